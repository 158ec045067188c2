#!/usr/bin/env python3
"""Verdicts of `migsafe check` on the real-migration corpus, project by project.

Runs `migsafe check --format json --fail-on never` once per project and corpus
dialect (files in INDEX.tsv order, so schema tracking stays within a project)
and records, per project: statements (top level and nested in DO blocks or
routine bodies), statements whose verdict is `unknown`, the statement verdicts,
and every destructive finding (rule, file, line, message, SQL). Down (rollback)
migrations are left out unless --with-down is given: they are not part of the
forward history, their drops undo the up migrations by design, and checked in
INDEX order among the up files they would also make the schema model wrong.

    python3 bench/verdicts.py [--corpus DIR] [--bin PATH] [--json FILE]
                              [--compare BEFORE.json] [--sample N] [--seed S]

--compare prints "before / after" tables against an earlier --json output
(e.g. one made with main's binary); --sample prints N destructive findings
drawn at random (fixed seed) for a manual review. Markdown goes to stdout.

A finding counts as destructive when its `verdict` field says so; reports of
builds that predate that field count a finding of category `destructive` on
a statement whose verdict is `destructive`.
Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/corpus next to the repository (or next to a parent folder, for worktrees)
DEFAULT_CORPUS = next((d / "shared" / "corpus" for d in REPO_ROOT.parents
                       if (d / "shared" / "corpus" / "INDEX.tsv").is_file()),
                      REPO_ROOT.parent / "shared" / "corpus")
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "migsafe"
DIALECT_MAP = {"postgres": "postgres", "generic": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
RUN_TIMEOUT_S = 900


def is_down(path: str) -> bool:
    """A down (rollback) migration: `x.down.sql`, `x.<dialect>.down.sql`, `down.sql`."""
    name = path.rsplit("/", 1)[-1]
    return name == "down.sql" or name.endswith(".down.sql")


def read_index(corpus: Path, with_down: bool = False) -> dict[tuple[str, str], list[str]]:
    projects: dict[tuple[str, str], list[str]] = collections.OrderedDict()
    with (corpus / "INDEX.tsv").open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["repo", "dialect", "seq", "path"]:
            sys.exit(f"verdicts.py: unexpected INDEX.tsv header {header!r}")
        for line in f:
            if line.strip():
                repo, dialect, _seq, path = line.rstrip("\n").split("\t")[:4]
                if with_down or not is_down(path):
                    projects.setdefault((repo, dialect), []).append(path)
    return projects


def run(binary: Path, corpus: Path, dialect: str, paths: list[str]) -> dict:
    cmd = [str(binary), "check", *paths, "--dialect", DIALECT_MAP[dialect],
           "--format", "json", "--fail-on", "never", "--quiet"]
    proc = subprocess.run(cmd, cwd=corpus, capture_output=True, timeout=RUN_TIMEOUT_S)
    if proc.returncode not in (0, 1):
        sys.exit(f"verdicts.py: {' '.join(cmd[:3])} … exited {proc.returncode}: "
                 f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    return json.loads(proc.stdout)


def first_words(sql: str, n: int = 3) -> str:
    s = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    return " ".join(w.upper()[:20] for w in s.split()[:n]) or "(empty)"


def collect(report: dict) -> dict:
    out = {
        "files": 0, "statements": 0, "nested": 0, "unknown": 0, "unknown_nested": 0,
        "by_verdict": collections.Counter(), "destructive_by_rule": collections.Counter(),
        "destructive": [], "unknown_statements": [], "dynamic_findings": 0,
        "placeholders": 0,
    }
    for m in report["migrations"]:
        out["files"] += 1
        out["placeholders"] += len(m.get("placeholders", []))
        stmts = {s["index"]: s for s in m["statements"]}
        for s in m["statements"]:
            nested = s.get("nested_in") is not None
            out["nested" if nested else "statements"] += 1
            out["by_verdict"][s["verdict"]] += 1
            if s["verdict"] == "unknown":
                out["unknown_nested" if nested else "unknown"] += 1
                out["unknown_statements"].append({
                    "path": m["path"], "line": s["line"], "nested": nested,
                    "head": first_words(s["sql"]), "error": (s.get("parse_error") or "")[:200],
                })
        for f in m["findings"]:
            if f.get("suppressed"):
                continue
            if "dynamic SQL" in f.get("message", ""):
                out["dynamic_findings"] += 1
            st = stmts.get(f["statement_index"], {})
            if "verdict" in f:
                destructive = f["verdict"] == "destructive"
            else:
                destructive = f["category"] == "destructive" and st.get("verdict") == "destructive"
            if destructive:
                out["destructive_by_rule"][f["rule"]] += 1
                out["destructive"].append({
                    "path": m["path"], "line": f["line"], "rule": f["rule"],
                    "message": f["message"], "sql": st.get("sql", "")[:600],
                })
    return out


def measure(binary: Path, corpus: Path, with_down: bool) -> dict:
    projects = read_index(corpus, with_down)
    result = {"binary": str(binary), "version": "", "with_down": with_down, "projects": {}}
    ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    result["version"] = ver.stdout.strip()
    for (repo, dialect), paths in projects.items():
        t0 = time.perf_counter()
        report = run(binary, corpus, dialect, paths)
        data = collect(report)
        data["seconds"] = round(time.perf_counter() - t0, 3)
        data["by_verdict"] = dict(data["by_verdict"])
        data["destructive_by_rule"] = dict(data["destructive_by_rule"])
        result["projects"][f"{repo} ({dialect})"] = data
    return result


def total(res: dict, key: str) -> int:
    return sum(p[key] for p in res["projects"].values())


def rule_totals(res: dict) -> collections.Counter:
    c: collections.Counter = collections.Counter()
    for p in res["projects"].values():
        c.update(p["destructive_by_rule"])
    return c


def print_single(res: dict) -> None:
    print(f"binary: `{res['version']}`\n")
    print("| project | files | statements | nested | unknown | unknown nested | destructive findings |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, p in res["projects"].items():
        print(f"| {name} | {p['files']} | {p['statements']} | {p['nested']} | {p['unknown']} "
              f"| {p['unknown_nested']} | {sum(p['destructive_by_rule'].values())} |")
    print()
    print("| rule | destructive findings |")
    print("|---|---:|")
    for rule, n in rule_totals(res).most_common():
        print(f"| {rule} | {n} |")
    print()


def print_compare(before: dict, after: dict) -> None:
    print(f"before: `{before['version']}` ({before['binary']})  \nafter: `{after['version']}` ({after['binary']})\n")
    print("### Unknown statements per project (top level + nested)\n")
    print("| project | statements (top + nested) | unknown before | unknown after |")
    print("|---|---:|---:|---:|")
    names = list(dict.fromkeys([*before["projects"], *after["projects"]]))
    tb = ta = 0
    for name in names:
        b = before["projects"].get(name, {})
        a = after["projects"].get(name, {})
        ub = b.get("unknown", 0) + b.get("unknown_nested", 0)
        ua = a.get("unknown", 0) + a.get("unknown_nested", 0)
        tb, ta = tb + ub, ta + ua
        print(f"| {name} | {a.get('statements', 0)} + {a.get('nested', 0)} "
              f"| {ub} ({b.get('unknown', 0)} + {b.get('unknown_nested', 0)}) "
              f"| {ua} ({a.get('unknown', 0)} + {a.get('unknown_nested', 0)}) |")
    print(f"| **all** | {total(after, 'statements')} + {total(after, 'nested')} | **{tb}** | **{ta}** |")
    print()
    print("### Destructive findings by rule\n")
    rb, ra = rule_totals(before), rule_totals(after)
    print("| rule | before | after |")
    print("|---|---:|---:|")
    for rule in sorted(set(rb) | set(ra), key=lambda r: (-rb.get(r, 0), -ra.get(r, 0), r)):
        print(f"| {rule} | {rb.get(rule, 0)} | {ra.get(rule, 0)} |")
    print(f"| **all** | **{sum(rb.values())}** | **{sum(ra.values())}** |")
    print()
    print("### Destructive findings per project\n")
    print("| project | before | after | files with a destructive verdict before | after |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        b = before["projects"].get(name, {})
        a = after["projects"].get(name, {})
        fb = len({d["path"] for d in b.get("destructive", [])})
        fa = len({d["path"] for d in a.get("destructive", [])})
        print(f"| {name} | {sum(b.get('destructive_by_rule', {}).values())} "
              f"| {sum(a.get('destructive_by_rule', {}).values())} | {fb} | {fa} |")
    print()


def print_sample(res: dict, n: int, seed: int) -> None:
    pool = [(name, d) for name, p in res["projects"].items() for d in p["destructive"]]
    rng = random.Random(seed)
    sample = rng.sample(pool, min(n, len(pool)))
    print(f"### {len(sample)} destructive findings sampled (seed {seed}, of {len(pool)})\n")
    for i, (name, d) in enumerate(sample, 1):
        sql = re.sub(r"\s+", " ", d["sql"]).strip()
        if len(sql) > 240:
            sql = sql[:237] + "..."
        print(f"{i}. **{d['rule']}** {d['path']}:{d['line']} ({name})  \n   `{sql}`  \n   {d['message']}")
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--bin", type=Path, default=DEFAULT_BIN)
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the measurements as JSON")
    ap.add_argument("--compare", type=Path, metavar="BEFORE", help="an earlier --json output")
    ap.add_argument("--sample", type=int, default=0, metavar="N", help="sample N destructive findings")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--with-down", action="store_true",
                    help="also check down (rollback) migrations, in INDEX order among the up ones")
    args = ap.parse_args()
    corpus, binary = args.corpus.resolve(), args.bin.resolve()
    if not (corpus / "INDEX.tsv").is_file():
        print(f"verdicts.py: no INDEX.tsv in {corpus}", file=sys.stderr)
        return 2
    if not os.access(binary, os.X_OK):
        print(f"verdicts.py: {binary} is not executable", file=sys.stderr)
        return 2
    res = measure(binary, corpus, args.with_down)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    if args.compare:
        print_compare(json.loads(args.compare.read_text()), res)
    else:
        print_single(res)
    if args.sample:
        print_sample(res, args.sample, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
