#!/usr/bin/env bash
# Speed of `migsafe integrity-check` on PostgreSQL against psql running the
# same SQL, in the same run, on a throwaway cluster this script creates.
#
#   bash bench/integrity.sh [--runs N] [--warmup N] [--pg-bin-dir DIR] [--no-build] [--no-targets]
#
# 1. catalog level on a database with 1,000 tables (target: under 1 s), against
#    psql running the SQL of the checks migsafe ran, in one session;
# 2. the fk-orphans check on a 1,000,000-row child table, against psql running
#    the same anti-join (target: at most 10 % slower).
# Runs are interleaved (migsafe, psql, psql, migsafe, …) so that load from
# other processes hits both sides alike. Writes the timings and the log to
# bench/results/ (ignored by git).
# Exits 1 if a target is missed unless --no-targets is given.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=10
WARMUP=2
BUILD=1
TARGETS=1
PGBIN=""

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --pg-bin-dir) PGBIN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-targets) TARGETS=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "integrity.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if (( RUNS < 10 )); then echo "integrity.sh: --runs must be at least 10" >&2; exit 2; fi

RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$RESULTS/integrity-$STAMP.log"
exec > >(tee "$LOG") 2>&1
echo "== integrity.sh $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"

# ---------------------------------------------------------------- tools
MIGSAFE="$ROOT/target/release/migsafe"
if (( BUILD )); then
  echo "== cargo build --release"
  (cd "$ROOT" && cargo build --release)
fi
[[ -x "$MIGSAFE" ]] || { echo "integrity.sh: $MIGSAFE missing; run cargo build --release" >&2; exit 2; }
if [[ -z "$PGBIN" ]]; then
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    PGBIN="$(pg_config --bindir)"
  else
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  fi
fi
[[ -x "$PGBIN/initdb" ]] || { echo "integrity.sh: no PostgreSQL server binaries (initdb) found; pass --pg-bin-dir or apt-get install postgresql" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "integrity.sh: python3 is needed to read the JSON output" >&2; exit 2; }

# ---------------------------------------------------------------- cluster
WORK="$(mktemp -d /tmp/migsafe-bench-integrity.XXXXXX)"
chmod 755 "$WORK"
AS=()
if [[ "$(id -u)" == 0 ]]; then
  # PostgreSQL refuses to run as root
  chown postgres "$WORK"
  AS=(runuser -u postgres --)
fi
cleanup() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "== initdb + start ($PGBIN)"
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories=$WORK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB -c max_locks_per_transaction=256" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE many" -c "CREATE DATABASE big"

echo "== database many: 1,000 tables (serial key, a foreign key each, an index each)"
"${PSQL[@]}" -d many <<'SQL'
CREATE TABLE t1 (id serial PRIMARY KEY, parent_id int, note text);
DO $$
BEGIN
  FOR i IN 2..1000 LOOP
    EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, parent_id int REFERENCES t%s, note text)', i, i - 1);
    EXECUTE format('CREATE INDEX ON t%s (parent_id)', i);
  END LOOP;
END $$;
ANALYZE;
SQL

echo "== database big: parent 100,000 rows, child 1,000,000 rows with a validated foreign key"
"${PSQL[@]}" -d big <<'SQL'
CREATE TABLE parent (id bigint PRIMARY KEY, name text);
INSERT INTO parent SELECT g, 'name ' || g FROM generate_series(1, 100000) g;
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint, amount int, note text);
INSERT INTO child SELECT g, 1 + g % 100000, g % 1000, 'note ' || g FROM generate_series(1, 1000000) g;
ALTER TABLE child ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES parent;
VACUUM ANALYZE;
SQL

URL_MANY="postgresql://postgres@/many?host=$WORK"
URL_BIG="postgresql://postgres@/big?host=$WORK"

# the SQL migsafe ran, from its JSON output, for the psql baselines
"$MIGSAFE" integrity-check --database-url "$URL_MANY" --level catalog --format json --quiet > "$WORK/many.json" || true
"$MIGSAFE" integrity-check --database-url "$URL_BIG" --only fk-orphans --format json --quiet > "$WORK/big.json" || true
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
many = json.load(open(f"{work}/many.json"))
big = json.load(open(f"{work}/big.json"))
assert many["summary"]["errors"] == 0 and big["summary"]["errors"] == 0, "benchmark databases must be clean"
sqls = [c["sql"] for c in many["checks"] if c["sql"]]
open(f"{work}/catalog.sql", "w").write("".join(s + ";\n" for s in sqls))
fk = [c for c in big["checks"] if c["check"] == "fk-orphans"]
assert len(fk) == 1, big
open(f"{work}/fk.sql", "w").write(fk[0]["sql"] + ";\n")
print(f"catalog level: {len(sqls)} checks ran, {many['summary']['not_run']} listed as not run; planning {many['planning_ms']:.1f} ms")
print(f"fk-orphans estimate {fk[0]['estimate_ms']} ms, measured once {fk[0]['duration_ms']:.1f} ms")
PY
echo "fk-orphans SQL: $(cat "$WORK/fk.sql")"

# one wrapper script per command keeps the quoting simple
cat > "$WORK/migsafe-catalog.sh" <<EOF
exec "$MIGSAFE" integrity-check --database-url "$URL_MANY" --level catalog --format json --quiet >/dev/null
EOF
cat > "$WORK/psql-catalog.sh" <<EOF
exec "${PSQL[0]}" -X -q -h "$WORK" -U postgres -d many -f "$WORK/catalog.sql" >/dev/null
EOF
cat > "$WORK/migsafe-fk.sh" <<EOF
exec "$MIGSAFE" integrity-check --database-url "$URL_BIG" --only fk-orphans --format json --quiet >/dev/null
EOF
cat > "$WORK/psql-fk.sh" <<EOF
exec "${PSQL[0]}" -X -q -h "$WORK" -U postgres -d big -f "$WORK/fk.sql" >/dev/null
EOF

# Interleaved runs (A B B A …) so that load from other processes on a shared machine hits both
# sides alike; hyperfine runs all of A before all of B, which turns drifting load into a bias.
python3 - "$WORK" "$RESULTS" "$STAMP" "$RUNS" "$WARMUP" "$TARGETS" <<'PY'
import json, statistics, subprocess, sys, time
work, results, stamp, runs, warmup, targets = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"

def once(script):
    t = time.perf_counter()
    r = subprocess.run(["bash", f"{work}/{script}"])
    if r.returncode != 0:
        sys.exit(f"integrity.sh: {script} exited {r.returncode}")
    return time.perf_counter() - t

def pair(a, b):
    for _ in range(warmup):
        once(a), once(b)
    ta, tb = [], []
    for i in range(runs):
        order = [(a, ta), (b, tb)] if i % 2 == 0 else [(b, tb), (a, ta)]
        for script, out in order:
            out.append(once(script))
    return ta, tb

def fmt(xs):
    return f"{statistics.median(xs)*1000:.0f} ms (mean {statistics.mean(xs)*1000:.0f} ± {statistics.stdev(xs)*1000:.0f})"

rows = []
for name, what, a, b in [
    ("catalog", "catalog level, 1,000 tables", "migsafe-catalog.sh", "psql-catalog.sh"),
    ("fk", "fk-orphans, 1,000,000-row child", "migsafe-fk.sh", "psql-fk.sh"),
]:
    print(f"== {what}: {runs} interleaved runs each after {warmup} warm-up pairs", flush=True)
    ta, tb = pair(a, b)
    ratio = statistics.median(ta) / statistics.median(tb)
    pair_ratio = statistics.median([x / y for x, y in zip(ta, tb)])
    rows.append((name, what, ta, tb, ratio, pair_ratio))
    json.dump({"migsafe_s": ta, "psql_s": tb}, open(f"{results}/integrity-{name}-{stamp}.json", "w"))

print()
print("| measurement | migsafe (median) | psql, same SQL (median) | ratio of medians | median of paired ratios | target |")
print("|---|---|---|---|---|---|")
ok = True
for name, what, ta, tb, ratio, pair_ratio in rows:
    if name == "catalog":
        target = "migsafe < 1 s"
        ok &= statistics.median(ta) < 1.0
    else:
        target = "ratio ≤ 1.10"
        ok &= ratio <= 1.10
    print(f"| {what} | {fmt(ta)} | {fmt(tb)} | {ratio:.2f}× | {pair_ratio:.2f}× | {target} |")
print()
print("targets met" if ok else "TARGET MISSED")
sys.exit(0 if ok or not targets else 1)
PY
