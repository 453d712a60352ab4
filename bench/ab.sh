#!/usr/bin/env bash
# ab.sh: two queue-server binaries side by side with the ceiling, to show that a change left the
# join and poll paths as cheap as they were (memory store).
#
#   bench/ab.sh OLD_BINARY NEW_BINARY
#
# Build the old binary from a worktree of the base commit with the same CARGO_TARGET_DIR and copy
# it aside (the commands are in bench/RESULTS.md). Each round runs ceiling, old and new under
# poll.lua, then ceiling-join, old and new under join.lua; each server run is divided by the
# ceiling of the same round and workload, and the table gives medians and new/old.
#
# Env (defaults in brackets): DURATION [10]  ROUNDS [5]  CONNECTIONS [64]  THREADS [1]
#   PREJOIN [10000]  WRK_STRICT [0] (no response() hook: the fastest client)
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?usage: bench/ab.sh OLD_BINARY NEW_BINARY}
NEW=${2:?usage: bench/ab.sh OLD_BINARY NEW_BINARY}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PREJOIN=${PREJOIN:-10000}
export WRK_STRICT=${WRK_STRICT:-0}
CEILING_ADDR=127.0.0.1:8099
OLD_ADDR=127.0.0.1:18082
NEW_ADDR=127.0.0.1:18083
QUEUE_ID=bench
ADMIN_KEY=bench-admin
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools wrk curl python3

TMP=$(mktemp -d)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

for addr in $CEILING_ADDR $OLD_ADDR $NEW_ADDR; do
  if port_busy "$addr"; then echo "ab.sh: something already listens on $addr" >&2; exit 1; fi
done
"$BIN/ceiling" --listen "$CEILING_ADDR" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
for side in old new; do
  if [[ $side == old ]]; then bin=$OLD addr=$OLD_ADDR; else bin=$NEW addr=$NEW_ADDR; fi
  TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=warn \
    "$bin" --listen "$addr" > "$TMP/$side.log" 2>&1 &
  PIDS+=($!)
  wait_http "$addr" "$side" "$TMP/$side.log"
  put_trickle_queue "$addr"
  python3 bench/prejoin.py --url "http://$addr" --queue "$QUEUE_ID" --count "$PREJOIN" \
    --out "$TMP/ids-$side.txt"
done
wait_http "$CEILING_ADDR" ceiling "$TMP/ceiling.log"

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, WRK_STRICT=$WRK_STRICT"
: > "$TMP/rounds.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  cp "$TMP/ids-new.txt" "$TMP/entry_ids.txt"
  run_wrk ceiling bench/wrk/poll.lua "$CEILING_ADDR"; c=$RESULT
  cp "$TMP/ids-old.txt" "$TMP/entry_ids.txt"
  run_wrk poll-old bench/wrk/poll.lua "$OLD_ADDR"; po=$RESULT
  cp "$TMP/ids-new.txt" "$TMP/entry_ids.txt"
  run_wrk poll-new bench/wrk/poll.lua "$NEW_ADDR"; pn=$RESULT
  run_wrk ceiling-join bench/wrk/join.lua "$CEILING_ADDR" RUN_ID="c$r-$(date +%s%N)"; cj=$RESULT
  run_wrk join-old bench/wrk/join.lua "$OLD_ADDR" RUN_ID="o$r-$(date +%s%N)"; jo=$RESULT
  run_wrk join-new bench/wrk/join.lua "$NEW_ADDR" RUN_ID="n$r-$(date +%s%N)"; jn=$RESULT
  crps=$(field rps <<< "$c"); cjrps=$(field rps <<< "$cj")
  record "$r" "$crps" "$c"; record "$r" "$crps" "$po"; record "$r" "$crps" "$pn"
  record "$r" "$cjrps" "$cj"; record "$r" "$cjrps" "$jo"; record "$r" "$cjrps" "$jn"
done
print_table ceiling poll-old poll-new ceiling-join join-old join-new
echo "poll new/old (median over rounds): $(median_ratio poll-new poll-old)"
echo "join new/old (median over rounds): $(median_ratio join-new join-old)"
if (( any_errors )); then echo "ab.sh: some runs had errors" >&2; exit 1; fi
