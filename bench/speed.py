#!/usr/bin/env python3
"""Wall time, CPU time and peak memory of `migsafe check` against squawk's
native binary, measured in one run (called by bench/speed.sh, which builds
and installs the tools first).

Two benchmarks:

1. corpus: every `postgres` file of INDEX.tsv, one process per tool, both with
   the corpus folder as working directory; N alternating rounds (the order
   flips every round so neither tool always runs on a warm cache), the median
   of each tool's wall times is compared.
2. big files: generated data migrations of 20,000 and 400,000 INSERTs (fixed
   seed, about 1.8 MB and 35.6 MB), checked by each tool, alternating.

Each run is one child process started without a shell under GNU time; its
wall time comes from a monotonic clock around it, its CPU time and peak RSS
from the kernel's rusage of that child as GNU time reports it.

Targets (exit 1 when one is missed, unless --no-targets):
  corpus: migsafe median wall <= 0.6 x squawk's, migsafe peak RSS < 50 MB;
  big:    400k file in less wall time than squawk and under 300 MB peak,
          20k file under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared/corpus next to the repository (or next to a parent folder, for worktrees)
DEFAULT_CORPUS = next((d / "shared" / "corpus" for d in ROOT.parents
                       if (d / "shared" / "corpus" / "INDEX.tsv").is_file()),
                      ROOT.parent / "shared" / "corpus")
GNU_TIME = "/usr/bin/time"
MB = 1024  # ru_maxrss is in kB on Linux; MB here means 1024 kB

CORPUS_RATIO = 0.6
CORPUS_RSS_MB = 50
BIG_RSS_MB = 300
SMALL_BIG_SECONDS = 1.0


def measure(cmd: list[str], cwd: Path, timeout: float | None) -> dict:
    """Run cmd once; wall seconds, CPU seconds (user+sys), peak RSS kB, exit code.

    The child runs under GNU time (a small C program that forks and execs it,
    then reads its rusage from wait4): a child forked from this Python process
    directly would inherit Python's resident pages into its peak RSS."""
    stats = Path(os.environ.get("TMPDIR", "/tmp")) / f"migsafe-speed-{os.getpid()}.time"
    start = time.perf_counter()
    proc = subprocess.Popen([GNU_TIME, "-f", "%U %S %M %x", "-o", str(stats), *cmd], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return {"wall": time.perf_counter() - start, "cpu": None, "rss_kb": None,
                "rc": None, "timed_out": True}
    wall = time.perf_counter() - start
    fields = stats.read_text().split()[-4:]
    stats.unlink()
    user, system, rss_kb, rc = float(fields[0]), float(fields[1]), int(fields[2]), int(fields[3])
    return {"wall": wall, "cpu": user + system, "rss_kb": rss_kb, "rc": rc, "timed_out": False}


def alternate(tools: dict[str, list[str]], cwd: Path, rounds: int,
              timeouts: dict[str, float | None]) -> dict[str, list[dict]]:
    """`rounds` runs of every tool, interleaved; the order flips every round."""
    names = list(tools)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(rounds):
        for name in (names if i % 2 == 0 else list(reversed(names))):
            if runs[name] and runs[name][-1]["timed_out"]:
                continue  # a tool that ran out of time once is not run again
            runs[name].append(measure(tools[name], cwd, timeouts.get(name)))
    return runs


def summary(runs: list[dict]) -> dict:
    done = [r for r in runs if not r["timed_out"]]
    if not done:
        return {"runs": len(runs), "timed_out": True, "wall_floor": runs[0]["wall"]}
    walls = [r["wall"] for r in done]
    return {
        "runs": len(done),
        "timed_out": False,
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "cpu_median": statistics.median(r["cpu"] for r in done),
        "rss_mb": max(r["rss_kb"] for r in done) / MB,
        "exit_codes": sorted({r["rc"] for r in done}),
    }


def generate(n: int, path: Path) -> None:
    """A data migration: one table, then n single-row INSERTs (seeded, so every
    run checks the same bytes)."""
    if path.exists():
        return
    rng = random.Random(n)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write("CREATE TABLE IF NOT EXISTS city_import "
                "(id bigint PRIMARY KEY, name text NOT NULL, cc char(2), pop integer);\n")
        for i in range(1, n + 1):
            name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                           for _ in range(rng.randint(5, 14))).title()
            cc = rng.choice(["US", "FR", "DE", "JP", "BR", "IN"])
            f.write(f"INSERT INTO city_import (id, name, cc, pop) VALUES "
                    f"({i}, '{name}', '{cc}', {rng.randint(100, 9000000)});\n")
    tmp.rename(path)


def migsafe_cmd(binary: str, files: list[str]) -> list[str]:
    return [binary, "check", "--format", "json", "--fail-on", "never", "--dialect", "postgres", *files]


def sanity(binary: str, files: list[str], cwd: Path, statements: int | None) -> str:
    """One run whose JSON is read: migsafe must exit 0 and report every file."""
    out = subprocess.run(migsafe_cmd(binary, files), cwd=cwd, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"speed.py: {binary} exited {out.returncode}: {out.stderr.decode()[-500:]}")
    s = json.loads(out.stdout)["summary"]
    if s["migrations"] != len(files):
        sys.exit(f"speed.py: {binary} reported {s['migrations']} of {len(files)} files")
    if statements is not None and s["statements"] != statements:
        sys.exit(f"speed.py: {binary} reported {s['statements']} statements, expected {statements}")
    return f"{s['migrations']} migrations, {s['statements']} statements, {s['findings']} findings"


def row(name: str, s: dict) -> str:
    if s["timed_out"]:
        return f"| {name} | > {s['wall_floor']:.0f} s (killed) | | | | {s['runs']} | |"
    return (f"| {name} | {s['median']:.3f} s | {s['min']:.3f} s | {s['max']:.3f} s "
            f"| {s['cpu_median']:.3f} s | {s['runs']} | {s['rss_mb']:.1f} MB |")


HEADER = ("| tool | median wall | min | max | median CPU (user+sys) | runs | peak RSS (max) |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def compare(args, files: list[str], cwd: Path, rounds: int, warmup: bool,
            before_timeout: float | None) -> tuple[dict, dict]:
    """Times migsafe, squawk (and --before) on `files`, alternating; prints the table."""
    tools = {"migsafe": migsafe_cmd(args.bin, files), "squawk": [args.squawk, *files]}
    if args.before:
        tools["before"] = migsafe_cmd(args.before, files)
    if warmup:
        alternate(tools, cwd, 1, {})  # one round, not counted
    runs = alternate(tools, cwd, rounds, {"before": before_timeout})
    sums = {t: summary(r) for t, r in runs.items()}
    print(HEADER)
    for t, s in sums.items():
        print(row(t, s))
    return runs, sums


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "migsafe"))
    ap.add_argument("--squawk", required=True, help="squawk's native binary (not a shim)")
    ap.add_argument("--before", help="another migsafe binary (e.g. main's) timed in the same run")
    ap.add_argument("--runs", type=int, default=9, help="alternating rounds on the corpus (>= 9)")
    ap.add_argument("--big-runs", type=int, default=3, help="alternating rounds per big file")
    ap.add_argument("--sizes", default="20000,400000", help="INSERT counts of the big files")
    ap.add_argument("--before-timeout", type=float, default=120.0,
                    help="seconds after which a --before run on a big file is killed")
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    ap.add_argument("--no-targets", action="store_true")
    args = ap.parse_args()
    if args.runs < 9:
        ap.error("--runs must be at least 9")

    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tools_version = {
        "migsafe": subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip(),
        "squawk": subprocess.run([args.squawk, "--version"], capture_output=True, text=True).stdout.strip(),
    }
    print(f"machine: {os.cpu_count()} cores; load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"migsafe: {tools_version['migsafe']} ({args.bin})")
    print(f"squawk:  {tools_version['squawk']} ({args.squawk})")
    if args.before:
        print(f"before:  {args.before}")
    print()

    record: dict = {"versions": tools_version, "corpus": None, "big": {}}
    fails: list[str] = []

    if not args.skip_corpus:
        index = (corpus / "INDEX.tsv").read_text().splitlines()[1:]
        files = [line.split("\t")[3] for line in index if line.split("\t")[1] == "postgres"]
        nbytes = sum((corpus / f).stat().st_size for f in files)
        if sum(len(f) + 1 for f in files) * 2 > os.sysconf("SC_ARG_MAX"):
            sys.exit("speed.py: the file list is too long for one command line")
        print(f"## corpus: {len(files)} postgres files, {nbytes} bytes, {args.runs} alternating rounds")
        print(f"migsafe says: {sanity(args.bin, files, corpus, None)}")
        runs, sums = compare(args, files, corpus, args.runs, warmup=True, before_timeout=None)
        m, q = sums["migsafe"], sums["squawk"]
        ratio = m["median"] / q["median"]
        cpu_ratio = m["cpu_median"] / q["cpu_median"]
        print(f"\nmigsafe/squawk median wall: {ratio:.3f} (target <= {CORPUS_RATIO}); "
              f"CPU: {cpu_ratio:.3f}; peak RSS {m['rss_mb']:.1f} MB (target < {CORPUS_RSS_MB} MB)")
        if args.before:
            print(f"migsafe/before median wall: {m['median'] / sums['before']['median']:.3f}")
        if q["exit_codes"] and max(q["exit_codes"]) > 1:
            sys.exit(f"speed.py: squawk exited {q['exit_codes']}")
        if ratio > CORPUS_RATIO:
            fails.append(f"corpus: migsafe/squawk wall {ratio:.3f} > {CORPUS_RATIO}")
        if m["rss_mb"] >= CORPUS_RSS_MB:
            fails.append(f"corpus: migsafe peak RSS {m['rss_mb']:.1f} MB >= {CORPUS_RSS_MB} MB")
        record["corpus"] = {"files": len(files), "bytes": nbytes, "results": sums,
                            "ratio_wall": ratio, "ratio_cpu": cpu_ratio, "raw": runs}
        print()

    if not args.skip_big:
        big_dir = results_dir / "big"
        big_dir.mkdir(exist_ok=True)
        for n in sizes:
            path = big_dir / f"inserts_{n}.sql"
            generate(n, path)
            size = path.stat().st_size
            print(f"## big file: {n} INSERTs ({size} bytes), {args.big_runs} alternating rounds")
            print(f"migsafe says: {sanity(args.bin, [path.name], big_dir, n + 1)}")
            runs, sums = compare(args, [path.name], big_dir, args.big_runs, warmup=False,
                                 before_timeout=args.before_timeout)
            m, q = sums["migsafe"], sums["squawk"]
            ratio = m["median"] / q["median"]
            print(f"\nmigsafe/squawk median wall: {ratio:.3f}; peak RSS migsafe {m['rss_mb']:.1f} MB, "
                  f"squawk {q['rss_mb']:.1f} MB")
            if n >= 400000:
                if ratio >= 1:
                    fails.append(f"{n} INSERTs: migsafe/squawk wall {ratio:.3f} >= 1")
                if m["rss_mb"] >= BIG_RSS_MB:
                    fails.append(f"{n} INSERTs: migsafe peak RSS {m['rss_mb']:.1f} MB >= {BIG_RSS_MB} MB")
            if n <= 20000 and m["median"] >= SMALL_BIG_SECONDS:
                fails.append(f"{n} INSERTs: migsafe {m['median']:.2f} s >= {SMALL_BIG_SECONDS} s")
            record["big"][str(n)] = {"bytes": size, "results": sums, "ratio_wall": ratio, "raw": runs}
            print()

    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    if fails:
        print("result: MISSED: " + "; ".join(fails))
        return 0 if args.no_targets else 1
    print("result: targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
