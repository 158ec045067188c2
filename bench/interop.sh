#!/usr/bin/env bash
# Real-tool interoperability of `migsafe status` / `migsafe apply` with the migration tools that
# install from this machine's registries (crates.io, npm, Debian): sqlx-cli, diesel_cli, dbmate
# (npm package with its binary) and drizzle-orm's migrator (run with node), on ephemeral
# PostgreSQL, MariaDB and SQLite. Tables the tools write must be read right by `migsafe status`;
# tables `migsafe apply` writes must be accepted by the tools ("up to date", nothing re-run).
#
#   bash bench/interop.sh [--no-install] [--tools DIR]
#
# Installs what is missing under DIR (default target/interop, ignored by git): cargo installs
# take several minutes each. Prints a markdown table and writes it to
# bench/results/interop-<time>.md. Exits 1 when a check failed or a tool could not be installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/target/interop"
INSTALL=1
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-install) INSTALL=0; shift ;;
    --tools) TOOLS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "interop.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
mkdir -p "$TOOLS" "$ROOT/bench/results"
export PATH="$TOOLS/cargo/bin:$PATH"
NODE="$TOOLS/node"

if (( INSTALL )); then
  need_apt=()
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
  dpkg -s libpq-dev >/dev/null 2>&1 || need_apt+=(libpq-dev)
  dpkg -s default-libmysqlclient-dev >/dev/null 2>&1 || need_apt+=(default-libmysqlclient-dev)
  dpkg -s libsqlite3-dev >/dev/null 2>&1 || need_apt+=(libsqlite3-dev)
  dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
  if [[ ${#need_apt[@]} -gt 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  fi
  command -v sqlx >/dev/null 2>&1 || cargo install --locked --root "$TOOLS/cargo" sqlx-cli \
    --no-default-features --features postgres,mysql,sqlite,rustls
  command -v diesel >/dev/null 2>&1 || cargo install --locked --root "$TOOLS/cargo" diesel_cli \
    --no-default-features --features postgres,mysql,sqlite
  if [[ ! -x "$NODE/node_modules/.bin/dbmate" || ! -d "$NODE/node_modules/drizzle-orm" ]]; then
    mkdir -p "$NODE" && [[ -f "$NODE/package.json" ]] || echo '{"private":true}' > "$NODE/package.json"
    (cd "$NODE" && npm install --no-audit --no-fund dbmate drizzle-orm pg mysql2 better-sqlite3@12.11.1)
  fi
  # better-sqlite3's install script is not run by npm here, and its prebuilt binary is not on a
  # registry: build it from the package's sources against the installed node headers
  if ! (cd "$NODE" && node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1); then
    (cd "$NODE" && npm_config_nodedir=/usr npm rebuild better-sqlite3 --foreground-scripts >/dev/null)
  fi
fi

cd "$ROOT"
cargo build --quiet --bin migsafe --example interop
OUT="bench/results/interop-$(date -u +%Y%m%dT%H%M%SZ).md"
set +e
MIGSAFE_BIN="$ROOT/target/debug/migsafe" INTEROP_NODE="$NODE/node_modules" \
  ./target/debug/examples/interop | tee "$OUT"
rc=${PIPESTATUS[0]}
echo "written: $OUT" >&2
exit "$rc"
