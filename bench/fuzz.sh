#!/usr/bin/env bash
# Runs every fuzzer in examples/fuzz_*.rs on generated and mutated inputs and fails on any panic.
#
#   bash bench/fuzz.sh [COUNT [SEED]]     # default: 10,000,000 inputs per target, seed 1
#
# Builds once (cargo build --release --examples), then runs each fuzzer with its own interface:
# fuzz_sql takes `all <count> <seed>` (lexer, splitter, fallback), the others `<count> <seed>`.
# Prints each fuzzer's lines (`<target>: <count> inputs, <panics> panics`) and its wall time, and
# writes the log to bench/results/ (ignored by git). Exits 1 if a fuzzer reported a panic or failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COUNT="${1:-10000000}"
SEED="${2:-1}"
cd "$ROOT"

RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
LOG="$RESULTS/fuzz-$(date -u +%Y%m%dT%H%M%SZ).log"
exec > >(tee "$LOG") 2>&1
echo "== fuzz.sh $(date -u '+%Y-%m-%d %H:%M UTC'), tree $(git describe --always --dirty 2>/dev/null || echo '?'), $COUNT inputs per target, seed $SEED"

shopt -s nullglob
fuzzers=()
for f in examples/fuzz_*.rs; do
  fuzzers+=("$(basename "$f" .rs)")
done
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "fuzz.sh: no examples/fuzz_*.rs" >&2
  exit 2
fi

echo "== cargo build --release --examples"
cargo build --release --locked --examples

failed=0
for name in "${fuzzers[@]}"; do
  case "$name" in
    fuzz_sql) args=(all "$COUNT" "$SEED") ;;
    *) args=("$COUNT" "$SEED") ;;
  esac
  echo "== $name ${args[*]}"
  start=$(date +%s.%N)
  status=0
  "target/release/examples/$name" "${args[@]}" || status=$?
  end=$(date +%s.%N)
  awk -v n="$name" -v s="$start" -v e="$end" -v c="$status" 'BEGIN { printf "%s: wall %.1f s, exit %d\n", n, e - s, c }'
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
