#!/usr/bin/env python3
"""Compare migsafe's verdicts with squawk's violations on the PostgreSQL corpus files.

Runs squawk (`--reporter json`) and `migsafe check --format json --fail-on never
--dialect postgres` over the corpus files whose INDEX.tsv dialect is `postgres`
(template files containing `{{` are left out: neither tool can parse them), one
repository at a time so migsafe's schema tracking stays within a project. Each
squawk violation is matched to the migsafe top-level statement whose lines
contain it (squawk reports 0-based lines; statements found inside DO blocks and
routine bodies count as part of their top-level statement). Reports:

- statements squawk flags (any rule) that migsafe calls `safe`, grouped by
  squawk rule, with counts and examples;
- statements migsafe flags (verdict other than safe) that squawk does not flag
  at all, grouped by migsafe rule (counts only).

    python3 bench/squawk_compare.py [--corpus DIR] [--bin PATH] [--squawk PATH]
        [--pg-version V] [--examples N] [--json FILE]

Markdown goes to stdout. Exit status: 0 when both tools ran; 2 for a usage or
setup problem (missing binary, a tool crashed or printed something that is not
JSON). Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/corpus next to the repository (or next to a parent folder, for worktrees)
DEFAULT_CORPUS = next((d / "shared" / "corpus" for d in REPO_ROOT.parents
                       if (d / "shared" / "corpus" / "INDEX.tsv").is_file()),
                      REPO_ROOT.parent / "shared" / "corpus")
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "migsafe"
RUN_TIMEOUT_S = 600
VERDICT_RANK = {"safe": 0, "caution": 1, "risky": 2, "unknown": 3, "destructive": 4}


def die(msg: str) -> "NoReturn":  # noqa: F821
    print(f"squawk_compare.py: {msg}", file=sys.stderr)
    sys.exit(2)


def read_index(corpus: Path) -> dict[str, list[str]]:
    """repo -> postgres file paths (relative to the corpus), in INDEX.tsv order, templates left out."""
    index = corpus / "INDEX.tsv"
    if not index.is_file():
        die(f"{index} not found (pass --corpus DIR)")
    by_repo: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    with index.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["repo", "dialect", "seq", "path"]:
            die(f"unexpected INDEX.tsv header {header!r}")
        for line in f:
            if not line.strip():
                continue
            repo, dialect, seq, path = line.rstrip("\n").split("\t")[:4]
            if dialect != "postgres":
                continue
            text = (corpus / path).read_bytes().decode("utf-8", errors="replace")
            if "{{" in text:
                continue
            by_repo[repo].append((int(seq), path))
    return {r: [p for _, p in sorted(v)] for r, v in by_repo.items()}


def run_json(cmd: list[str], cwd: Path, ok_codes: tuple[int, ...]):
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        die(f"timeout: {' '.join(cmd[:3])} …")
    if proc.returncode not in ok_codes:
        die(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[:2000]}")
    try:
        return json.loads(proc.stdout or b"[]")
    except json.JSONDecodeError as e:
        die(f"{cmd[0]} printed no JSON ({e}): {proc.stdout[:500]!r}")


def shorten(sql: str, n: int = 140) -> str:
    s = " ".join(sql.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--bin", type=Path, default=DEFAULT_BIN, help="migsafe binary (default target/release/migsafe)")
    ap.add_argument("--squawk", default=shutil.which("squawk") or "squawk")
    ap.add_argument("--pg-version", default="15", help="PostgreSQL version given to both tools (default 15)")
    ap.add_argument("--assume-in-transaction", action="store_true",
                    help="pass --assume-in-transaction to squawk (migsafe assumes it for these files)")
    ap.add_argument("--examples", type=int, default=2, help="examples per group (default 2)")
    ap.add_argument("--json", type=Path, help="also write the full comparison as JSON")
    args = ap.parse_args()

    corpus = args.corpus.resolve()
    if not args.bin.is_file():
        die(f"{args.bin} not found: run `cargo build --release` first")
    if not shutil.which(args.squawk) and not Path(args.squawk).is_file():
        die("squawk not found: `python3 -m pip install squawk-cli`")
    squawk_version = subprocess.run([args.squawk, "--version"], capture_output=True, text=True).stdout.strip()
    migsafe_version = subprocess.run([str(args.bin), "--version"], capture_output=True, text=True).stdout.strip()
    pg_version = args.pg_version if "." in args.pg_version else args.pg_version + ".0"

    repos = read_index(corpus)
    # one record per migsafe top-level statement
    stmts: list[dict] = []
    by_file: dict[str, list[dict]] = collections.defaultdict(list)
    unmatched: list[dict] = []
    squawk_total = 0
    files_n = 0
    for repo, paths in sorted(repos.items()):
        files_n += len(paths)
        report = run_json(
            [str(args.bin), "check", *paths, "--dialect", "postgres", "--target-version", args.pg_version,
             "--format", "json", "--fail-on", "never"],
            corpus, (0, 1))
        for m in report["migrations"]:
            path = os.path.normpath(m["path"])
            top: dict[int, dict] = {}
            for s in m["statements"]:
                parent = s.get("nested_in")
                if parent is None:
                    rec = {
                        "repo": repo, "file": path, "line": s["line"], "end_line": s["end_line"],
                        "sql": s["sql"], "verdict": s["verdict"], "transaction": m["transaction"],
                        "migsafe_rules": set(), "squawk": collections.defaultdict(list),
                    }
                    top[s["index"]] = rec
                    stmts.append(rec)
                    by_file[path].append(rec)
                else:
                    rec = top[parent]
                    if VERDICT_RANK[s["verdict"]] > VERDICT_RANK[rec["verdict"]]:
                        rec["verdict"] = s["verdict"]
            owner = {s["index"]: (s["index"] if s.get("nested_in") is None else s["nested_in"])
                     for s in m["statements"]}
            for f in m["findings"]:
                if f["suppressed"] or f["statement_index"] not in owner:
                    continue
                top[owner[f["statement_index"]]]["migsafe_rules"].add(f["rule"])
        sq_cmd = [args.squawk, "--reporter", "json", "--pg-version", pg_version]
        if args.assume_in_transaction:
            sq_cmd.append("--assume-in-transaction")
        violations = run_json([*sq_cmd, *paths], corpus, (0, 1))
        for v in violations:
            squawk_total += 1
            path = os.path.normpath(v["file"])
            line = v["line"] + 1  # squawk lines are 0-based
            match = [r for r in by_file.get(path, []) if r["line"] <= line <= r["end_line"]]
            if not match:
                unmatched.append({"file": path, "line": line, "rule": v["rule_name"], "message": v["message"]})
                continue
            match[0]["squawk"][v["rule_name"]].append(v["message"])

    flagged_sq = [r for r in stmts if r["squawk"]]
    flagged_ms = [r for r in stmts if r["verdict"] != "safe"]
    sq_safe = [r for r in flagged_sq if r["verdict"] == "safe"]
    ms_only = [r for r in flagged_ms if not r["squawk"]]
    both = [r for r in flagged_sq if r["verdict"] != "safe"]

    by_sq_rule: dict[str, dict] = {}
    for r in flagged_sq:
        for rule in r["squawk"]:
            g = by_sq_rule.setdefault(rule, {"flagged": 0, "migsafe_safe": 0, "examples": [], "all": []})
            g["flagged"] += 1
            g["all"].append(r)
            if r["verdict"] == "safe":
                g["migsafe_safe"] += 1
                g["examples"].append(r)
    by_ms_rule = collections.Counter(rule for r in ms_only for rule in r["migsafe_rules"])
    ms_only_verdicts = collections.Counter(r["verdict"] for r in ms_only)

    def loc(r: dict) -> str:
        return f"{r['file']}:{r['line']}"

    out: list[str] = []
    w = out.append
    w("# migsafe vs squawk on the PostgreSQL corpus\n")
    w(f"- migsafe: `{migsafe_version}`; squawk: `{squawk_version}`; PostgreSQL version given to both: {args.pg_version}; "
      f"squawk {'with' if args.assume_in_transaction else 'without'} `--assume-in-transaction`")
    tx = collections.Counter(r["transaction"] for r in stmts)
    w(f"- migsafe runs {tx[True]} of the statements inside the migrator's transaction (layout detection), {tx[False]} outside")
    w(f"- files: {files_n} postgres files from {len(repos)} repositories (template files with `{{{{` left out)")
    w(f"- top-level statements (migsafe): {len(stmts)}")
    w(f"- squawk violations: {squawk_total} ({len(unmatched)} not inside any migsafe statement)")
    w(f"- statements squawk flags: **{len(flagged_sq)}**; statements migsafe flags (not safe): **{len(flagged_ms)}**; both: {len(both)}")
    w(f"- squawk flags, migsafe calls safe: **{len(sq_safe)}**")
    w(f"- migsafe flags, squawk does not: **{len(ms_only)}** "
      f"({', '.join(f'{k} {v}' for k, v in sorted(ms_only_verdicts.items(), key=lambda kv: -VERDICT_RANK[kv[0]]))})\n")

    w("## Statements squawk flags, by squawk rule\n")
    w("| squawk rule | statements flagged | of which migsafe calls safe |")
    w("|---|---:|---:|")
    for rule, g in sorted(by_sq_rule.items(), key=lambda kv: (-kv[1]["migsafe_safe"], -kv[1]["flagged"], kv[0])):
        w(f"| `{rule}` | {g['flagged']} | {g['migsafe_safe']} |")
    w("")
    w("## Squawk flags, migsafe calls safe: examples\n")
    for rule, g in sorted(by_sq_rule.items(), key=lambda kv: (-kv[1]["migsafe_safe"], kv[0])):
        if not g["migsafe_safe"]:
            continue
        w(f"### `{rule}`: {g['migsafe_safe']} statements\n")
        # prefer examples from different files
        seen: set[str] = set()
        picks = []
        for r in g["examples"]:
            if r["file"] not in seen:
                picks.append(r)
                seen.add(r["file"])
            if len(picks) == args.examples:
                break
        for r in picks:
            w(f"- `{loc(r)}`: `{shorten(r['sql'])}` — squawk: {shorten(r['squawk'][rule][0], 160)}")
        w("")
    w("## Migsafe flags, squawk does not: by migsafe rule\n")
    w("| migsafe rule | statements |")
    w("|---|---:|")
    for rule, n in by_ms_rule.most_common():
        w(f"| `{rule}` | {n} |")
    w("")
    if unmatched:
        w("## Squawk violations outside any migsafe statement\n")
        for u in unmatched[: 10]:
            w(f"- `{u['file']}:{u['line']}` `{u['rule']}`: {shorten(u['message'], 120)}")
        if len(unmatched) > 10:
            w(f"- … {len(unmatched) - 10} more")
        w("")
    print("\n".join(out))

    if args.json:
        def rec(r: dict) -> dict:
            return {"file": r["file"], "line": r["line"], "end_line": r["end_line"], "sql": r["sql"],
                    "migsafe_verdict": r["verdict"], "migsafe_rules": sorted(r["migsafe_rules"]),
                    "squawk_rules": sorted(r["squawk"]), "transaction": r["transaction"]}
        data = {
            "migsafe": migsafe_version, "squawk": squawk_version, "pg_version": args.pg_version,
            "squawk_assume_in_transaction": args.assume_in_transaction,
            "files": files_n, "statements": len(stmts), "squawk_violations": squawk_total,
            "squawk_flagged_statements": len(flagged_sq), "migsafe_flagged_statements": len(flagged_ms),
            "both_flagged": len(both),
            "squawk_flagged_migsafe_safe": {
                rule: {"flagged": g["flagged"], "migsafe_safe": g["migsafe_safe"],
                       "statements": [rec(r) for r in g["examples"]],
                       "all_flagged": [{"file": r["file"], "line": r["line"], "migsafe_verdict": r["verdict"],
                                        "migsafe_rules": sorted(r["migsafe_rules"])} for r in g["all"]]}
                for rule, g in sorted(by_sq_rule.items())
            },
            "migsafe_flagged_squawk_silent": {
                "by_rule": dict(by_ms_rule.most_common()),
                "by_verdict": dict(ms_only_verdicts),
                "statements": [rec(r) for r in ms_only],
            },
            "unmatched_squawk_violations": unmatched,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
