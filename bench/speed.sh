#!/usr/bin/env bash
# Wall time and peak memory of `migsafe check` against squawk on the same
# PostgreSQL corpus files, in the same run.
#
#   bash bench/speed.sh [--corpus DIR] [--runs N] [--warmup N] [--no-build] [--no-targets]
#
# Installs what it needs when missing: squawk (pip install squawk-cli),
# hyperfine and GNU time (apt-get). Writes hyperfine's JSON/markdown exports
# and this run's log to bench/results/ (ignored by git). Exits 1 if a target is
# missed (migsafe slower than squawk, or migsafe peak RSS >= 50 MB) unless
# --no-targets is given.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPUS="$ROOT/../shared/corpus"
RUNS=10
WARMUP=2
BUILD=1
TARGETS=1
RSS_LIMIT_MB=50
RSS_SAMPLES=3

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --corpus) CORPUS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-targets) TARGETS=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "speed.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if (( RUNS < 10 )); then echo "speed.sh: --runs must be at least 10" >&2; exit 2; fi
CORPUS="$(cd "$CORPUS" && pwd)" || { echo "speed.sh: corpus folder not found" >&2; exit 2; }
[[ -f "$CORPUS/INDEX.tsv" ]] || { echo "speed.sh: no INDEX.tsv in $CORPUS" >&2; exit 2; }

RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$RESULTS/speed-$STAMP.log"
exec > >(tee "$LOG") 2>&1
echo "== speed.sh $(date -u '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------- tools
MIGSAFE="$ROOT/target/release/migsafe"
if (( BUILD )); then
  echo "== cargo build --release"
  (cd "$ROOT" && cargo build --release)
fi
[[ -x "$MIGSAFE" ]] || { echo "speed.sh: $MIGSAFE missing; run cargo build --release" >&2; exit 2; }

if ! command -v squawk >/dev/null 2>&1; then
  echo "== pip install squawk-cli"
  python3 -m pip install --quiet squawk-cli
  hash -r
fi
# Time the real squawk binary, not a pyenv shim (a bash script that would add
# tens of milliseconds to every squawk run).
SQUAWK=""
if command -v pyenv >/dev/null 2>&1; then SQUAWK="$(pyenv which squawk 2>/dev/null || true)"; fi
[[ -n "$SQUAWK" ]] || SQUAWK="$(command -v squawk)"
SQUAWK_VERSION="$("$SQUAWK" --version)"

apt_install() {
  apt-get install -y "$@" || { apt-get update && apt-get install -y "$@"; }
}
need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
[[ -x /usr/bin/time ]] || need+=(time)
if (( ${#need[@]} )); then echo "== apt-get install -y ${need[*]}"; apt_install "${need[@]}"; fi

# ---------------------------------------------------------------- files
# PostgreSQL files only (not kratos's `generic` ones), in INDEX.tsv order,
# relative to the corpus folder, which is the working directory of both tools
# (so neither picks up a config file from this repository).
mapfile -t FILES < <(awk -F'\t' 'NR > 1 && $2 == "postgres" { print $4 }' "$CORPUS/INDEX.tsv")
NFILES=${#FILES[@]}
(( NFILES > 0 )) || { echo "speed.sh: no postgres files in INDEX.tsv" >&2; exit 2; }
ARGBYTES=0
for f in "${FILES[@]}"; do ARGBYTES=$((ARGBYTES + ${#f} + 1)); done
ARG_MAX="$(getconf ARG_MAX)"
if (( ARGBYTES * 2 > ARG_MAX )); then
  echo "speed.sh: the file list ($ARGBYTES bytes) is too long for one command line (ARG_MAX $ARG_MAX)" >&2
  exit 2
fi
BYTES="$(cd "$CORPUS" && cat "${FILES[@]}" | wc -c)"

# hyperfine --shell=none and the word lists below split on whitespace
case "$MIGSAFE$SQUAWK${FILES[*]}" in *$'\t'*|*$'\n'*) echo "speed.sh: whitespace in a path" >&2; exit 2 ;; esac
for p in "$MIGSAFE" "$SQUAWK" "${FILES[@]}"; do
  [[ "$p" != *" "* ]] || { echo "speed.sh: space in path $p (not supported)" >&2; exit 2; }
done
MIGSAFE_CMD="$MIGSAFE check --format json --fail-on never --dialect postgres ${FILES[*]}"
SQUAWK_CMD="$SQUAWK ${FILES[*]}"

cd "$CORPUS"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== migsafe: $("$MIGSAFE" --version), tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($MIGSAFE)"
echo "== squawk:  $SQUAWK_VERSION ($SQUAWK)"
echo "== $(hyperfine --version), GNU time $(dpkg-query -W -f='${Version}' time 2>/dev/null || echo '?')"
echo "== files: $NFILES postgres files, $BYTES bytes; command line $ARGBYTES bytes of arguments (ARG_MAX $ARG_MAX): one process each"

# Sanity: both tools really run over the files (migsafe must exit 0 with
# --fail-on never; squawk exits 1 when it reports issues, which is expected).
set +e
# Their outputs are kept (overwritten each run) in results/*-last.*.
$MIGSAFE_CMD > "$RESULTS/migsafe-last.json" 2> "$RESULTS/migsafe-last.stderr"
MIGSAFE_RC=$?
$SQUAWK_CMD > "$RESULTS/squawk-last.txt" 2> "$RESULTS/squawk-last.stderr"
SQUAWK_RC=$?
set -e
echo "== check runs: migsafe exit $MIGSAFE_RC, squawk exit $SQUAWK_RC (1 = issues found)"
if (( MIGSAFE_RC != 0 )); then
  echo "speed.sh: migsafe exited $MIGSAFE_RC:" >&2; tail -5 "$RESULTS/migsafe-last.stderr" >&2; exit 1
fi
if (( SQUAWK_RC > 1 )); then
  echo "speed.sh: squawk exited $SQUAWK_RC:" >&2; tail -5 "$RESULTS/squawk-last.stderr" >&2; exit 1
fi
MIGSAFE_SAYS="$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print("%d migrations, %d statements, %d findings" % (s["migrations"], s["statements"], s["findings"]))' \
  "$RESULTS/migsafe-last.json")"
SQUAWK_SAYS="$(sed 's/\x1b\[[0-9;]*m//g' "$RESULTS/squawk-last.txt" | grep -E '^Found [0-9]+ issues|^Found 0|checked [0-9]+ source' | tail -1 || true)"
echo "== migsafe output: $MIGSAFE_SAYS ($(wc -c < "$RESULTS/migsafe-last.json") bytes of JSON)"
echo "== squawk output:  ${SQUAWK_SAYS:-?} ($(wc -c < "$RESULTS/squawk-last.txt") bytes)"
echo "== load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- timing
echo "== hyperfine (warmup $WARMUP, $RUNS runs each)"
HF_JSON="$RESULTS/hyperfine-$STAMP.json"
hyperfine --warmup "$WARMUP" --runs "$RUNS" --ignore-failure --shell=none \
  --export-json "$HF_JSON" --export-markdown "$RESULTS/hyperfine-$STAMP.md" \
  -n migsafe "$MIGSAFE_CMD" \
  -n squawk "$SQUAWK_CMD"

# ---------------------------------------------------------------- memory
peak_rss_kb() {  # max over RSS_SAMPLES runs of GNU time's "Maximum resident set size"
  local best=0 kb i
  for ((i = 0; i < RSS_SAMPLES; i++)); do
    /usr/bin/time -v "$@" > /dev/null 2> "$RESULTS/time-$STAMP.tmp" || true
    kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$RESULTS/time-$STAMP.tmp")"
    [[ -n "$kb" ]] || { echo "speed.sh: no RSS from /usr/bin/time for $1" >&2; exit 1; }
    (( kb > best )) && best=$kb
  done
  rm -f "$RESULTS/time-$STAMP.tmp"
  echo "$best"
}
# shellcheck disable=SC2086  # the commands are word lists on purpose
MIGSAFE_RSS_KB="$(peak_rss_kb $MIGSAFE_CMD)"
# shellcheck disable=SC2086
SQUAWK_RSS_KB="$(peak_rss_kb $SQUAWK_CMD)"

# ---------------------------------------------------------------- summary
set +e
python3 - "$HF_JSON" "$MIGSAFE_RSS_KB" "$SQUAWK_RSS_KB" "$RSS_LIMIT_MB" "$TARGETS" \
  "$SQUAWK_VERSION" "$NFILES" "$BYTES" "$RSS_SAMPLES" <<'PY'
import json, sys
hf, m_kb, s_kb, limit, targets, sq_version, nfiles, nbytes, samples = sys.argv[1:]
res = {r["command"]: r for r in json.load(open(hf))["results"]}
m, s = res["migsafe"], res["squawk"]
m_mb, s_mb = int(m_kb) / 1024, int(s_kb) / 1024
ratio = m["mean"] / s["mean"]
print(f"files: {nfiles} postgres files ({nbytes} bytes), baseline {sq_version}")
print()
print("| tool | mean ± σ | min | max | runs | peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
for name, r, mb in (("migsafe", m, m_mb), ("squawk", s, s_mb)):
    print(f"| {name} | {r['mean']*1000:.1f} ms ± {r['stddev']*1000:.1f} | {r['min']*1000:.1f} ms "
          f"| {r['max']*1000:.1f} ms | {len(r['times'])} | {mb:.1f} MB |")
print()
print(f"migsafe/squawk mean time: {ratio:.3f}   squawk/migsafe: {1/ratio:.3f}")
print(f"peak RSS (max of {samples} runs, MB = 1024 kB): migsafe {m_mb:.1f} MB, squawk {s_mb:.1f} MB")
fails = []
if ratio > 1:
    fails.append(f"migsafe is slower than squawk (x{ratio:.3f}, +{(ratio-1)*100:.1f}%)")
if m_mb >= float(limit):
    fails.append(f"migsafe peak RSS {m_mb:.1f} MB is not under {limit} MB (+{m_mb-float(limit):.1f} MB)")
status = "targets met (no slower than squawk, peak RSS < %s MB)" % limit if not fails else "MISSED: " + "; ".join(fails)
print(f"result: {status}")
sys.exit(1 if fails and targets == "1" else 0)
PY
rc=$?
set -e
echo "== results in $RESULTS (hyperfine-$STAMP.json, speed-$STAMP.log)"
exit "$rc"
