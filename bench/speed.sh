#!/usr/bin/env bash
# Wall time, CPU time and peak memory of `migsafe check` against squawk's
# native binary, in one run: the corpus's PostgreSQL files, and generated data
# migrations of 20,000 and 400,000 INSERTs (see bench/speed.py).
#
#   bash bench/speed.sh [--no-build] [speed.py options: --corpus DIR --runs N
#                        --big-runs N --sizes A,B --before BIN --no-targets ...]
#
# Installs squawk (pip install squawk-cli) and GNU time (apt-get) when missing. Writes this run's log
# and JSON to bench/results/ (ignored by git). Exits 1 if a target is missed
# (see bench/speed.py) unless --no-targets is given.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD=1
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done

RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$RESULTS/speed-$STAMP.log"
exec > >(tee "$LOG") 2>&1
echo "== speed.sh $(date -u '+%Y-%m-%d %H:%M UTC'), tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"

if (( BUILD )); then
  echo "== cargo build --release"
  (cd "$ROOT" && cargo build --release)
fi
[[ -x "$ROOT/target/release/migsafe" ]] || { echo "speed.sh: target/release/migsafe missing; run cargo build --release" >&2; exit 2; }

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
if head -c 2 "$SQUAWK" | grep -q '#!'; then
  echo "speed.sh: $SQUAWK is a script, not squawk's native binary" >&2; exit 2
fi

if [[ ! -x /usr/bin/time ]]; then
  echo "== apt-get install -y time"
  apt-get install -y time || { apt-get update && apt-get install -y time; }
fi

exec python3 "$ROOT/bench/speed.py" --squawk "$SQUAWK" --json "$RESULTS/speed-$STAMP.json" "${PASS[@]}"
