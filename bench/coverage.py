#!/usr/bin/env python3
"""Statement coverage of migsafe's SQL front end on the real-migration corpus.

For each dialect, runs `migsafe check --format json --fail-on never` once over
all of that dialect's corpus files (in INDEX.tsv order; batched only if the
command line would be too long), and counts the top-level statements that
sqlparser parsed, that the token-level fallback classified, and that stayed
unknown (parser "none"). Statements found inside DO blocks / routine bodies
(`nested_in`) are not counted.

    python3 bench/coverage.py [--corpus DIR] [--bin PATH] [--json FILE] [--no-targets]

Exit status: 0 when no file crashed migsafe and every dialect meets its
coverage target; 1 otherwise; 2 for a usage or setup problem.
Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/corpus next to the repository (or next to a parent folder, for worktrees)
DEFAULT_CORPUS = next((d / "shared" / "corpus" for d in REPO_ROOT.parents
                       if (d / "shared" / "corpus" / "INDEX.tsv").is_file()),
                      REPO_ROOT.parent / "shared" / "corpus")
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "migsafe"

# corpus dialect -> migsafe --dialect. kratos's `generic` files are portable
# SQL that kratos applies unchanged to every engine; we check them as postgres.
DIALECT_MAP = {"postgres": "postgres", "generic": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
DIALECTS = ("postgres", "mysql", "sqlite")
TARGETS = {"postgres": 99.0, "mysql": 97.0, "sqlite": 99.0}

TEMPLATE_RE = re.compile(r"\{\{.*?\}\}|\{\$", re.S)
# A `delimiter X` client command inside one reported statement: the splitter
# ran across it, so the statement may hide others (reported, not fatal).
DELIMITER_LINE_RE = re.compile(r"(?im)^[ \t]*delimiter[ \t]+\S")
TOP_N = 25
RUN_TIMEOUT_S = 600


@dataclass
class Entry:
    repo: str
    corpus_dialect: str
    seq: int
    path: str  # relative to the corpus dir
    template: bool = False


@dataclass
class Counts:
    files: int = 0
    ok_files: int = 0  # processed without a crash
    statements: int = 0
    sqlparser: int = 0
    fallback: int = 0
    unknown: int = 0
    nested: int = 0  # nested statements seen (not counted above)

    def add(self, other: "Counts") -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def coverage(self) -> float | None:
        if self.statements == 0:
            return None
        return 100.0 * (self.sqlparser + self.fallback) / self.statements


@dataclass
class Crash:
    path: str
    dialect: str
    status: str  # "exit 2", "signal 11", "timeout", "bad json", "missing from output"
    stderr: str


@dataclass
class DialectResult:
    counts: Counts = field(default_factory=Counts)  # non-template files
    templates: Counts = field(default_factory=Counts)  # template files
    processes: int = 0
    seconds: float = 0.0


def read_index(corpus: Path) -> list[Entry]:
    index = corpus / "INDEX.tsv"
    entries = []
    with index.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        want = ["repo", "dialect", "seq", "path"]
        if header[:4] != want:
            sys.exit(f"coverage.py: unexpected INDEX.tsv header {header!r} (want {want} first)")
        for line in f:
            if not line.strip():
                continue
            repo, dialect, seq, path = line.rstrip("\n").split("\t")[:4]
            if dialect not in DIALECT_MAP:
                sys.exit(f"coverage.py: {index}: unknown dialect {dialect!r} for {path}")
            text = (corpus / path).read_bytes().decode("utf-8", errors="replace")
            entries.append(Entry(repo, dialect, int(seq), path, bool(TEMPLATE_RE.search(text))))
    return entries


def batches(paths: list[str], budget: int) -> list[list[str]]:
    out: list[list[str]] = [[]]
    used = 0
    for p in paths:
        cost = len(os.fsencode(p)) + 1 + 8  # the string, its NUL, the argv pointer
        if out[-1] and used + cost > budget:
            out.append([])
            used = 0
        out[-1].append(p)
        used += cost
    return out


def arg_budget() -> int:
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = 128 * 1024
    env = sum(len(k) + len(v) + 2 + 8 for k, v in os.environ.items())
    return max(16 * 1024, arg_max // 2 - env - 4096)


def run_migsafe(binary: Path, corpus: Path, dialect: str, paths: list[str]):
    """Returns (status, report-or-None, stderr). status None = ran (exit 0/1)."""
    cmd = [str(binary), "check", *paths, "--dialect", dialect, "--format", "json", "--fail-on", "never"]
    try:
        proc = subprocess.run(cmd, cwd=corpus, capture_output=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        return "timeout", None, (e.stderr or b"").decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode < 0:
        return f"signal {-proc.returncode}", None, stderr
    if proc.returncode not in (0, 1):
        return f"exit {proc.returncode}", None, stderr
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        return "bad json", None, f"{e}; stderr: {stderr}"
    return None, report, stderr


def norm(p: str) -> str:
    return os.path.normpath(p)


def leading_keywords(sql: str, n: int = 2) -> str:
    # drop comments, then take the first n words (identifiers stay as written, keywords upper-cased)
    s = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    words = s.split()[:n]
    return " ".join(w.upper()[:24] for w in words) or "(empty)"


def normalise_error(msg: str | None) -> str:
    if not msg:
        return "(no parse_error)"
    msg = re.sub(r"\s+", " ", msg).strip()
    msg = re.sub(r" at [Ll]ine:? \d+(, [Cc]olumn:? \d+)?", "", msg)
    if len(msg) > 140:
        msg = msg[:137] + "..."
    return msg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="corpus folder with INDEX.tsv (default: ../shared/corpus from the repo root)")
    ap.add_argument("--bin", type=Path, default=DEFAULT_BIN,
                    help="migsafe binary (default: target/release/migsafe)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON to FILE")
    ap.add_argument("--no-targets", action="store_true", help="do not fail on coverage below the targets")
    ap.add_argument("--dialect", action="append", choices=DIALECTS,
                    help="only this dialect (repeatable; default: all)")
    args = ap.parse_args()

    corpus = args.corpus.resolve()
    binary = args.bin.resolve()
    if not (corpus / "INDEX.tsv").is_file():
        print(f"coverage.py: no INDEX.tsv in {corpus}; pass --corpus DIR", file=sys.stderr)
        return 2
    if not os.access(binary, os.X_OK):
        print(f"coverage.py: {binary} is not an executable; run `cargo build --release` or pass --bin",
              file=sys.stderr)
        return 2

    entries = read_index(corpus)
    dialects = args.dialect or list(DIALECTS)
    budget = arg_budget()

    results: dict[str, DialectResult] = {}
    per_repo: dict[tuple[str, str], Counts] = collections.defaultdict(Counts)
    per_repo_tpl: dict[tuple[str, str], Counts] = collections.defaultdict(Counts)
    crashes: list[Crash] = []
    kw_counter: collections.Counter = collections.Counter()
    err_counter: collections.Counter = collections.Counter()
    kw_by_dialect: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    err_by_dialect: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    kw_example: dict[str, str] = {}
    err_example: dict[str, str] = {}
    tpl_unknown_kw: collections.Counter = collections.Counter()
    merged: list[tuple[str, str, str, str]] = []
    fb_counter: collections.Counter = collections.Counter()  # (dialect, kind, keywords) -> n
    fb_err_counter: collections.Counter = collections.Counter()  # (dialect, parse_error) -> n

    for dialect in dialects:
        mine = [e for e in entries if DIALECT_MAP[e.corpus_dialect] == dialect]
        res = results.setdefault(dialect, DialectResult())
        by_path = {norm(e.path): e for e in mine}
        reports: dict[str, dict] = {}

        def absorb(report: dict, wanted: list[str]) -> None:
            got = {}
            for m in report.get("migrations", []):
                got[norm(m["path"])] = m
            for p in wanted:
                if norm(p) in got:
                    reports[norm(p)] = got[norm(p)]

        t0 = time.perf_counter()
        for batch in batches([e.path for e in mine], budget):
            res.processes += 1
            status, report, stderr = run_migsafe(binary, corpus, dialect, batch)
            if status is None:
                absorb(report, batch)
                continue
            # The batch failed as a whole: rerun its files one by one so that the
            # crash is pinned on the file(s) that cause it and the rest still count.
            print(f"coverage.py: {dialect}: batch of {len(batch)} files: {status}; "
                  f"rerunning its files one by one", file=sys.stderr)
            for p in batch:
                res.processes += 1
                st1, rep1, err1 = run_migsafe(binary, corpus, dialect, [p])
                if st1 is None:
                    absorb(rep1, [p])
                else:
                    crashes.append(Crash(p, dialect, st1, err1.strip()[-2000:]))
        res.seconds = time.perf_counter() - t0

        crashed = {norm(c.path) for c in crashes}
        for e in mine:
            key = (e.repo, e.corpus_dialect)
            c = Counts(files=1)
            m = reports.get(norm(e.path))
            if m is None and norm(e.path) not in crashed:
                crashes.append(Crash(e.path, dialect, "missing from output", ""))
            if m is not None:
                c.ok_files = 1
                for st in m.get("statements", []):
                    if st.get("nested_in") is not None:
                        c.nested += 1
                        continue
                    c.statements += 1
                    if DELIMITER_LINE_RE.search(st.get("sql", "")):
                        merged.append((dialect, f"{e.path}:{st.get('line')}-{st.get('end_line')}",
                                       st.get("parser"), st.get("kind")))
                    parser = st.get("parser")
                    if parser == "sqlparser":
                        c.sqlparser += 1
                    elif parser == "fallback":
                        c.fallback += 1
                        if not e.template:
                            fb_counter[(dialect, st.get("kind", "?"), leading_keywords(st.get("sql", "")))] += 1
                            fb_err_counter[(dialect, normalise_error(st.get("parse_error")))] += 1
                    else:
                        c.unknown += 1
                        kw = leading_keywords(st.get("sql", ""))
                        if e.template:
                            tpl_unknown_kw[kw] += 1
                            continue
                        er = normalise_error(st.get("parse_error"))
                        kw_counter[kw] += 1
                        err_counter[er] += 1
                        kw_by_dialect[kw][dialect] += 1
                        err_by_dialect[er][dialect] += 1
                        loc = f"{e.path}:{st.get('line')}"
                        kw_example.setdefault(kw, loc)
                        err_example.setdefault(er, loc)
            if e.template:
                res.templates.add(c)
                per_repo_tpl[key].add(c)
            else:
                res.counts.add(c)
                per_repo[key].add(c)

    # ---------------------------------------------------------------- report
    version = "?"
    try:
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=30).stdout.strip()
        if rev:
            version += f", tree {rev}"
    except (OSError, subprocess.TimeoutExpired):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}%"

    def row(name: str, c: Counts, tpl: Counts | None = None, extra: str = "") -> str:
        t = f" | {tpl.files} ({tpl.statements} stmts, {tpl.unknown} unknown)" if tpl is not None else ""
        return (f"| {name} | {c.files} | {c.ok_files} | {c.statements} | {c.sqlparser} | {c.fallback} "
                f"| {c.unknown} | {pct(c.coverage())}{t}{extra} |")

    out = []
    out.append(f"# migsafe statement coverage ({version}, {now})\n")
    out.append(f"Corpus: `{corpus}` ({len(entries)} files). `generic` (ory/kratos) checked as postgres. "
               "Template files (`{{ … }}` / `{$` placeholders, which migsafe substitutes and reports) are "
               "counted apart from the coverage columns, in the last column. Nested statements (inside DO blocks/routine bodies) "
               "are not counted.\n")
    out.append("## Per dialect\n")
    out.append("| dialect | files | processed w/o crash | statements | sqlparser | fallback | unknown "
               "| coverage | target | template files (placeholders substituted) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    missed = []
    for d in dialects:
        r = results[d]
        cov = r.counts.coverage()
        ok = cov is not None and cov >= TARGETS[d]
        if not ok:
            missed.append((d, cov))
        tgt = f"≥ {TARGETS[d]:g}% {'met' if ok else 'MISSED'}"
        out.append(row(d, r.counts, None, f" | {tgt} | {r.templates.files} files "
                                          f"({r.templates.statements} stmts, {r.templates.unknown} unknown)"))
    total, total_tpl = Counts(), Counts()
    for d in dialects:
        total.add(results[d].counts)
        total_tpl.add(results[d].templates)
    out.append(row("**all**", total, None, f" | | {total_tpl.files} files "
                                            f"({total_tpl.statements} stmts, {total_tpl.unknown} unknown)"))
    out.append("")
    out.append("migsafe processes per dialect (one per batch): " + ", ".join(
        f"{d} {results[d].processes} ({results[d].seconds:.2f} s)" for d in dialects) + "\n")

    out.append("## Per repo\n")
    out.append("| repo (corpus dialect) | files | processed w/o crash | statements | sqlparser | fallback "
               "| unknown | coverage | template files (placeholders substituted) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for key in sorted(set(per_repo) | set(per_repo_tpl), key=lambda k: (DIALECT_MAP[k[1]], k[0], k[1])):
        c = per_repo.get(key, Counts())
        out.append(row(f"{key[0]} ({key[1]})", c, per_repo_tpl.get(key, Counts())))
    out.append("")

    out.append(f"## Crashes: {len(crashes)}\n")
    for c in crashes:
        first = c.stderr.splitlines()[0] if c.stderr else ""
        out.append(f"- `{c.path}` ({c.dialect}): {c.status}: {first}")
    out.append("")

    out.append(f"## Top {TOP_N} leading keywords of unknown statements (templates excluded)\n")
    out.append("| # | leading keywords | count | by dialect | first seen |")
    out.append("|---:|---|---:|---|---|")
    for i, (kw, n) in enumerate(kw_counter.most_common(TOP_N), 1):
        bd = ", ".join(f"{d} {k}" for d, k in sorted(kw_by_dialect[kw].items()))
        out.append(f"| {i} | `{kw}` | {n} | {bd} | `{kw_example[kw]}` |")
    out.append("")
    out.append(f"## Top {TOP_N} parse_error messages of unknown statements (templates excluded)\n")
    out.append("| # | parse_error (position stripped) | count | by dialect | first seen |")
    out.append("|---:|---|---:|---|---|")
    for i, (er, n) in enumerate(err_counter.most_common(TOP_N), 1):
        bd = ", ".join(f"{d} {k}" for d, k in sorted(err_by_dialect[er].items()))
        cell = er.replace("|", "\\|")
        out.append(f"| {i} | {cell} | {n} | {bd} | `{err_example[er]}` |")
    out.append("")
    out.append(f"## Top {TOP_N} statements sqlparser rejected and the fallback classified (templates excluded)\n")
    out.append("| # | dialect | fallback kind | leading keywords | count |")
    out.append("|---:|---|---|---|---:|")
    for i, ((d, kind, kw), n) in enumerate(fb_counter.most_common(TOP_N), 1):
        out.append(f"| {i} | {d} | {kind} | `{kw}` | {n} |")
    out.append("")
    out.append(f"## Top {TOP_N} sqlparser errors behind those fallback statements\n")
    out.append("| # | dialect | parse_error (position stripped) | count |")
    out.append("|---:|---|---|---:|")
    for i, ((d, er), n) in enumerate(fb_err_counter.most_common(TOP_N), 1):
        cell = er.replace("|", "\\|")
        out.append(f"| {i} | {d} | {cell} | {n} |")
    out.append("")
    if tpl_unknown_kw:
        out.append("Unknown statements in template files, by leading keywords: " + ", ".join(
            f"`{k}` {n}" for k, n in tpl_unknown_kw.most_common(10)) + "\n")

    out.append(f"## Statements with a `delimiter` line inside: {len(merged)}\n")
    out.append("A top-level statement whose text contains a `delimiter X` line: the splitter did not "
               "treat that line as a client command, so the statement may contain (and hide) others.\n")
    for d, loc, parser, kind in merged:
        out.append(f"- `{loc}` ({d}): parser {parser}, kind {kind}")
    out.append("")

    verdict_lines = []
    if crashes:
        verdict_lines.append(f"FAIL: {len(crashes)} crash(es)")
    if missed and not args.no_targets:
        for d, cov in missed:
            verdict_lines.append(f"FAIL: {d} coverage {pct(cov)} below target {TARGETS[d]:g}%")
    if missed and args.no_targets:
        verdict_lines.append("targets not checked (--no-targets); missed: "
                             + ", ".join(f"{d} {pct(cov)} < {TARGETS[d]:g}%" for d, cov in missed))
    out.append("Result: " + ("; ".join(verdict_lines) if verdict_lines else "OK (no crash, all targets met)"))
    print("\n".join(out))

    if args.json:
        def cdict(c: Counts) -> dict:
            d = dict(vars(c))
            d["coverage_pct"] = None if c.coverage() is None else round(c.coverage(), 4)
            return d
        data = {
            "generated": now,
            "migsafe_version": version,
            "corpus": str(corpus),
            "corpus_files": len(entries),
            "targets_pct": TARGETS,
            "dialects": {d: {"counts": cdict(results[d].counts), "templates": cdict(results[d].templates),
                             "processes": results[d].processes, "seconds": round(results[d].seconds, 3),
                             "target_met": results[d].counts.coverage() is not None
                             and results[d].counts.coverage() >= TARGETS[d]} for d in dialects},
            "repos": [{"repo": k[0], "corpus_dialect": k[1], "dialect": DIALECT_MAP[k[1]],
                       "counts": cdict(per_repo.get(k, Counts())),
                       "templates": cdict(per_repo_tpl.get(k, Counts()))}
                      for k in sorted(set(per_repo) | set(per_repo_tpl))],
            "crashes": [vars(c) for c in crashes],
            "top_unknown_keywords": [{"keywords": k, "count": n, "by_dialect": dict(kw_by_dialect[k]),
                                      "example": kw_example[k]} for k, n in kw_counter.most_common(TOP_N)],
            "top_parse_errors": [{"error": k, "count": n, "by_dialect": dict(err_by_dialect[k]),
                                  "example": err_example[k]} for k, n in err_counter.most_common(TOP_N)],
            "template_unknown_keywords": dict(tpl_unknown_kw.most_common()),
            "top_fallback": [{"dialect": d, "kind": k, "keywords": kw, "count": n}
                             for (d, k, kw), n in fb_counter.most_common(TOP_N)],
            "top_fallback_parse_errors": [{"dialect": d, "error": er, "count": n}
                                          for (d, er), n in fb_err_counter.most_common(TOP_N)],
            "statements_with_delimiter_line": [{"dialect": d, "where": loc, "parser": p, "kind": k}
                                               for d, loc, p, k in merged],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    failed = bool(crashes) or (bool(missed) and not args.no_targets)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
