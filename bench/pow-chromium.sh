#!/usr/bin/env bash
# pow-chromium.sh: the waiting room's proof-of-work solve time in Chromium, by difficulty
# (bench/pow-chromium.mjs), against a release queue-server of its own on the memory store.
#
# Env: DIFFICULTIES [1000,5000,20000,50000]  RUNS [7]  SKIP_BUILD [0]. Port 18185.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_BUILD=${SKIP_BUILD:-0}
ADDR=127.0.0.1:18185
ADMIN_KEY=bench-admin
BIN=${CARGO_TARGET_DIR:-target}/release
source bench/lib.sh
require_tools curl node
if [[ $SKIP_BUILD != 1 ]]; then cargo build --release -p queue-server; fi
{ read -r CHROMIUM; read -r MODULES; } < <(bash .ci/playwright.sh)
TMP=$(mktemp -d)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
if port_busy "$ADDR"; then echo "$0: something already listens on $ADDR" >&2; exit 1; fi
TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=warn \
  "$BIN/queue-server" --listen "$ADDR" > "$TMP/queue-server.log" 2>&1 &
PIDS+=($!)
wait_http "$ADDR" queue-server "$TMP/queue-server.log"
CHROMIUM=$CHROMIUM PAGES_NODE_MODULES=$MODULES QUEUE_URL="http://$ADDR" ADMIN_KEY=$ADMIN_KEY \
  node bench/pow-chromium.mjs
