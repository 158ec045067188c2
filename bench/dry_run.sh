#!/usr/bin/env bash
# Wall time of `migsafe dry-run` on a generated PostgreSQL history of N migrations, against a
# baseline measured in the same run: psql applying the same files (one transaction each) to an
# already running server, with no observation.
#
#   bash bench/dry_run.sh [--migrations N] [--runs R] [--no-build]
#
# Prints a markdown table and writes it to bench/results/dry_run-<time>.md (ignored by git).
# Measures: a cold run (no template cache: initdb + every migration observed), a warm run (the
# initdb template cached), a CI-style run with --since (N-10 setup migrations inside a cached
# template, 10 new ones observed), and the psql baseline. Each figure is the median of R runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=300
RUNS=3
BUILD=1
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --migrations) N="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "dry_run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
(( N >= 20 )) || { echo "dry_run.sh: --migrations must be at least 20" >&2; exit 2; }

if (( BUILD )); then (cd "$ROOT" && cargo build --release --quiet); fi
BIN="$ROOT/target/release/migsafe"
[[ -x "$BIN" ]] || { echo "dry_run.sh: $BIN not built" >&2; exit 2; }
PSQL="$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)"
[[ -n "$PSQL" ]] || PSQL="$(command -v psql)" || { echo "dry_run.sh: psql not found (apt-get install postgresql)" >&2; exit 2; }

WORK="$(mktemp -d)"
HOLD_PID=""
cleanup() {
  [[ -n "$HOLD_PID" ]] && kill "$HOLD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# a git repository with the generated history: all but the last 10 committed (for --since)
python3 - "$WORK/repo/migrations" "$N" <<'EOF'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
tables = []
for i in range(1, n + 1):
    if i % 10 == 1 or not tables:
        t = f"t{len(tables) + 1}"
        tables.append(t)
        sql = (f"CREATE TABLE {t} (\n    id bigint PRIMARY KEY,\n    name text NOT NULL,\n"
               f"    qty integer NOT NULL DEFAULT 0,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n")
        if len(tables) > 1:
            sql += f"ALTER TABLE {t} ADD COLUMN parent_id bigint REFERENCES {tables[-2]} (id);\n"
    else:
        t = tables[(i * 7) % len(tables)]
        kind = i % 6
        if kind == 0:
            sql = f"ALTER TABLE {t} ADD COLUMN c{i} text;\n"
        elif kind == 1:
            sql = f"ALTER TABLE {t} ADD COLUMN c{i} integer;\nCREATE INDEX {t}_c{i}_idx ON {t} (c{i});\n"
        elif kind == 2:
            sql = f"ALTER TABLE {t} ADD CONSTRAINT {t}_qty{i}_check CHECK (qty >= 0) NOT VALID;\nALTER TABLE {t} VALIDATE CONSTRAINT {t}_qty{i}_check;\n"
        elif kind == 3:
            sql = f"CREATE OR REPLACE VIEW v{i} AS SELECT id, name FROM {t} WHERE qty > {i};\n"
        elif kind == 4:
            sql = f"UPDATE {t} SET qty = qty + 1 WHERE id < {i};\nCOMMENT ON TABLE {t} IS 'rev {i}';\n"
        else:
            sql = f"ALTER TABLE {t} ALTER COLUMN qty SET DEFAULT {i};\n"
    with open(os.path.join(out, f"{i:04d}_m{i}.sql"), "w") as f:
        f.write(sql)
EOF
(
  cd "$WORK/repo"
  export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
  git init -q
  ls migrations | head -n $((N - 10)) | sed 's|^|migrations/|' | xargs git add
  git commit -qm base
)

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_runs LABEL CACHE_MODE ARGS…: CACHE_MODE is "cold" (a fresh, empty cache each run) or "warm"
time_runs() {
  local label="$1" mode="$2"; shift 2
  local times=()
  if [[ "$mode" == warm ]]; then
    # prime the template once
    (cd "$WORK/repo" && MIGSAFE_CACHE_DIR="$WORK/cache-warm" "$BIN" dry-run "$@" --quiet --format json >/dev/null) || true
  fi
  for ((r = 0; r < RUNS; r++)); do
    local cache="$WORK/cache-warm"
    if [[ "$mode" == cold ]]; then cache="$WORK/cache-cold-$r"; fi
    local t0 t1 code=0
    t0=$(now)
    (cd "$WORK/repo" && MIGSAFE_CACHE_DIR="$cache" "$BIN" dry-run "$@" --quiet --format json >"$WORK/last.json") || code=$?
    t1=$(now)
    if (( code > 1 )); then echo "dry_run.sh: migsafe failed ($code) for $label" >&2; cat "$WORK/last.json" >&2; exit 1; fi
    times+=("$(awk "BEGIN {print $t1 - $t0}")")
  done
  printf '%s\n' "${times[@]}" | median
}

COLD=$(time_runs cold cold migrations)
STARTUP_COLD=$(python3 -c "import json;print(json.load(open('$WORK/last.json'))['database']['startup_ms']/1000)")
WARM=$(time_runs warm warm migrations)
STARTUP_WARM=$(python3 -c "import json;print(json.load(open('$WORK/last.json'))['database']['startup_ms']/1000)")
FAILED=$(python3 -c "import json;j=json.load(open('$WORK/last.json'));print(j['summary']['failed'], j['summary']['applied'], j['summary']['statements'])")
SINCE=$(time_runs since warm migrations --since HEAD)
SINCE_NEW=$(python3 -c "import json;j=json.load(open('$WORK/last.json'));print(j['summary']['new'], j['summary']['setup'], j['database']['template']['hit'])")

# baseline: psql applies the same files, one transaction each, on a running server
mkfifo "$WORK/hold"
"$BIN" debug-ephemeral postgres <"$WORK/hold" >"$WORK/server.json" &
HOLD_PID=$!
exec 9>"$WORK/hold"
for _ in $(seq 1 600); do [[ -s "$WORK/server.json" ]] && break; sleep 0.1; done
WS=$(python3 -c "import json;print(json.load(open('$WORK/server.json'))['workspace'])")
DRIVER="$WORK/driver.sql"
: >"$DRIVER"
for f in "$WORK"/repo/migrations/*.sql; do printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$f" >>"$DRIVER"; done
BASE_TIMES=()
for ((r = 0; r < RUNS; r++)); do
  DB="bench$r"
  "$PSQL" -X -q -h "$WS/sock" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
  t0=$(now)
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$WS/sock" -U postgres -d "$DB" -f "$DRIVER" >/dev/null
  t1=$(now)
  BASE_TIMES+=("$(awk "BEGIN {print $t1 - $t0}")")
done
BASE=$(printf '%s\n' "${BASE_TIMES[@]}" | median)
exec 9>&-
wait "$HOLD_PID" 2>/dev/null || true
HOLD_PID=""

ratio() { awk "BEGIN {printf \"%.1f\", $1 / $2}"; }
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/dry_run-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "Generated history: $N PostgreSQL migrations ($(echo "$FAILED" | awk '{print $3}') statements), median of $RUNS runs, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)."
  echo
  echo "| run | wall time | start-up | vs psql baseline |"
  echo "|---|---:|---:|---:|"
  printf '| psql applies every file (baseline, server already running) | %.2f s | – | 1.0× |\n' "$BASE"
  printf '| dry-run, cold (initdb, every file observed + diffed) | %.2f s | %.2f s | %s× |\n' "$COLD" "$STARTUP_COLD" "$(ratio "$COLD" "$BASE")"
  printf '| dry-run, warm (initdb template cached) | %.2f s | %.2f s | %s× |\n' "$WARM" "$STARTUP_WARM" "$(ratio "$WARM" "$BASE")"
  printf '| dry-run --since (%s new, %s setup in the template: hit=%s) | %.2f s | – | %s× |\n' $(echo "$SINCE_NEW" | awk '{print $1, $2, $3}') "$SINCE" "$(ratio "$SINCE" "$BASE")"
} | tee "$OUT"
