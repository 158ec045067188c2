#!/usr/bin/env bash
# Wall time of `migsafe backup create`, `backup verify` and `restore` on a pgbench database, each
# against a baseline measured in the same run on the same server: the bare pg_dump / pg_restore
# commands a runbook would use (no hashing, no manifest, no row counts, no checks).
#
#   bash bench/backup.sh [--scale S] [--runs R] [--no-build]
#
# --scale is pgbench's scale factor (10 ≈ 160 MB, 1 M rows in pgbench_accounts; default 10).
# Prints a markdown table and writes it to bench/results/backup-<time>.md (ignored by git). Each
# figure is the median of R runs (default 3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCALE=10
RUNS=3
BUILD=1
usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "backup.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
(( RUNS >= 1 )) || { echo "backup.sh: --runs must be at least 1" >&2; exit 2; }

if (( BUILD )); then (cd "$ROOT" && cargo build --release --quiet); fi
BIN="$ROOT/target/release/migsafe"
[[ -x "$BIN" ]] || { echo "backup.sh: $BIN not built" >&2; exit 2; }
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "$PGBIN/pg_dump" && -x "$PGBIN/pgbench" ]] || { echo "backup.sh: PostgreSQL client tools and pgbench not found (apt-get install postgresql)" >&2; exit 2; }

WORK="$(mktemp -d)"
HOLD_PID=""
cleanup() {
  exec 9>&- 2>/dev/null || true
  [[ -n "$HOLD_PID" ]] && { wait "$HOLD_PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

mkfifo "$WORK/hold"
"$BIN" debug-ephemeral postgres <"$WORK/hold" >"$WORK/server.json" &
HOLD_PID=$!
exec 9>"$WORK/hold"
for _ in $(seq 1 600); do [[ -s "$WORK/server.json" ]] && break; sleep 0.1; done
WS=$(python3 -c "import json;print(json.load(open('$WORK/server.json'))['workspace'])")
export PGHOST="$WS/sock" PGUSER=postgres
URL="postgresql://postgres@/bench?host=$WS/sock"
"$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE bench" >/dev/null
"$PGBIN/pgbench" -i -q -s "$SCALE" bench >/dev/null 2>&1
"$PGBIN/psql" -X -q -d bench -c "VACUUM ANALYZE" >/dev/null
DBSIZE=$("$PGBIN/psql" -X -At -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))")

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timed LABEL CMD…: median wall time of R runs; $WORK/run is emptied before each run
timed() {
  local times=()
  for ((r = 0; r < RUNS; r++)); do
    rm -rf "$WORK/run"; mkdir -p "$WORK/run"
    local t0 t1
    t0=$(now)
    "$@" >"$WORK/out" 2>"$WORK/err" || { echo "backup.sh: failed: $*" >&2; cat "$WORK/out" "$WORK/err" >&2; exit 1; }
    t1=$(now)
    times+=("$(awk "BEGIN {print $t1 - $t0}")")
  done
  printf '%s\n' "${times[@]}" | median
}

BASE_DUMP=$(timed "$PGBIN/pg_dump" --format=custom --file="$WORK/run/base.dump" bench)
MS_DUMP=$(timed "$BIN" backup create --database-url "$URL" --dir "$WORK/run" --no-verify --quiet)
MS_DUMP_VERIFIED=$(timed "$BIN" backup create --database-url "$URL" --dir "$WORK/run" --quiet)
SIZE=$(du -h "$WORK/run"/backup_*.dump | cut -f1)
BASE_DIR=$(timed "$PGBIN/pg_dump" --format=directory --jobs=2 --file="$WORK/run/base.dir" bench)
MS_DIR=$(timed "$BIN" backup create --database-url "$URL" --dir "$WORK/run" --format directory --jobs 2 --no-verify --quiet)

# verification: the bare full read vs migsafe's checksum + full read (one pass), kept outside run/
mkdir -p "$WORK/keep"
"$BIN" backup create --database-url "$URL" --dir "$WORK/keep" --quiet >/dev/null
ARCHIVE=$(ls "$WORK"/keep/backup_*.dump)
BASE_READ=$(timed "$PGBIN/pg_restore" --file=/dev/null "$ARCHIVE")
MS_VERIFY=$(timed "$BIN" backup verify latest --dir "$WORK/keep" --quiet)

# restore: bare pg_restore into a new database vs migsafe's swap (preflight, restore into a new
# database, row counts + fingerprint + integrity catalog checks, swap)
restore_base() {
  "$PGBIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS bench_base" -c "CREATE DATABASE bench_base TEMPLATE template0" >/dev/null
  "$PGBIN/pg_restore" --dbname=bench_base --exit-on-error "$ARCHIVE"
}
restore_migsafe() {
  "$BIN" restore latest --database-url "$URL" --dir "$WORK/keep" --yes --drain 0s --quiet
  "$PGBIN/psql" -X -q -d postgres -c "$(printf 'DROP DATABASE "%s";' $("$PGBIN/psql" -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'bench_before_restore_%'"))" >/dev/null
}
BASE_RESTORE=$(timed restore_base)
MS_RESTORE=$(timed restore_migsafe)
# the same restore without migsafe's verification of the copy, to show where the time goes
STEPS=$("$BIN" restore latest --database-url "$URL" --dir "$WORK/keep" --yes --drain 0s --quiet --output json | python3 -c "import json,sys;j=json.load(sys.stdin);print(', '.join(f\"{s['name']} {s['ms']/1000:.2f}s\" for s in j['steps']))")

ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }
fmt() { awk "BEGIN {printf \"%.2f s\", $1}"; }
REPORT="$WORK/report.md"
{
  echo "pgbench scale $SCALE ($DBSIZE), custom archive $SIZE, $RUNS runs each (median), $(nproc) CPUs"
  echo
  echo "| operation | baseline (same run) | baseline time | migsafe | migsafe time | ratio |"
  echo "|---|---|---|---|---|---|"
  echo "| dump, custom format | \`pg_dump -Fc -f file\` | $(fmt "$BASE_DUMP") | \`backup create --no-verify\` (streamed sha256, row counts in the dump's snapshot, manifest, fsync) | $(fmt "$MS_DUMP") | $(ratio "$MS_DUMP" "$BASE_DUMP") |"
  echo "| dump + verification | \`pg_dump -Fc -f file\` | $(fmt "$BASE_DUMP") | \`backup create\` (+ checksum and full read) | $(fmt "$MS_DUMP_VERIFIED") | $(ratio "$MS_DUMP_VERIFIED" "$BASE_DUMP") |"
  echo "| dump, directory format, 2 jobs | \`pg_dump -Fd -j2\` | $(fmt "$BASE_DIR") | \`backup create --format directory -j 2 --no-verify\` | $(fmt "$MS_DIR") | $(ratio "$MS_DIR" "$BASE_DIR") |"
  echo "| verification | \`pg_restore -f /dev/null\` | $(fmt "$BASE_READ") | \`backup verify\` (sha256 and full read in one pass) | $(fmt "$MS_VERIFY") | $(ratio "$MS_VERIFY" "$BASE_READ") |"
  echo "| restore | \`createdb\` + \`pg_restore --exit-on-error\` | $(fmt "$BASE_RESTORE") | \`restore --yes\` (swap: preflight, restore, verify, swap) | $(fmt "$MS_RESTORE") | $(ratio "$MS_RESTORE" "$BASE_RESTORE") |"
  echo
  echo "restore steps of one run: $STEPS"
} >"$REPORT"
cat "$REPORT"
mkdir -p "$ROOT/bench/results"
cp "$REPORT" "$ROOT/bench/results/backup-$(date -u +%Y%m%dT%H%M%SZ).md"
