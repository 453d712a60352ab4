#!/usr/bin/env bash
# queue.sh: queue-server join and poll throughput, side by side with the
# bare-hyper ceiling, on this machine.
#
# Why rounds and ratios: the box is 2 shared cores and wrk runs on it too, so
# absolute requests/s drift by tens of percent between minutes. Each round runs
# ceiling, join and poll back to back; join and poll are divided by the ceiling
# of the same round, and medians over rounds are reported. See bench/RESULTS.md.
#
# Steps: build release binaries; start the ceiling (127.0.0.1:8099) and the
# queue-server (127.0.0.1:18082); create queue "bench" through the admin API
# with admission slowed to a trickle so entries stay waiting; pre-join PREJOIN
# users (bench/prejoin.py) to get real entryIds for the poll run; then ROUNDS x
# (ceiling, join, poll) with wrk. The ceiling run uses poll.lua with the same
# entryIds, so wrk sends byte-identical GETs to both servers.
#
# Env (defaults in brackets):
#   DURATION [10]  seconds per wrk run      ROUNDS [3]      CONNECTIONS [64]
#   THREADS [1]    wrk threads              PREJOIN [10000] users joined before polling
#   PIN [0]        1: servers on CPU 0 (one worker each), wrk on CPU 1
#   WRK_STRICT [1] count every non-2xx via a wrk response() hook (report.lua)
#   SKIP_BUILD [0] 1: use existing binaries in ${CARGO_TARGET_DIR:-target}/release
# Exit status: 0 if every run had zero errors, 1 otherwise (figures still printed).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PREJOIN=${PREJOIN:-10000}
PIN=${PIN:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
export WRK_STRICT=${WRK_STRICT:-1}
CEILING_ADDR=127.0.0.1:8099
QUEUE_ADDR=127.0.0.1:18082
QUEUE_ID=bench
ADMIN_KEY=bench-admin
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools wrk curl python3

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server && cargo build --release -p ticketon-bench --bin ceiling
fi

TMP=$(mktemp -d)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

srv_pin=(); workers=()
if [[ $PIN == 1 ]]; then
  srv_pin=(taskset -c 0); wrk_pin=(taskset -c 1); workers=(--workers 1)
fi

for addr in $CEILING_ADDR $QUEUE_ADDR; do
  if port_busy "$addr"; then echo "queue.sh: something already listens on $addr" >&2; exit 1; fi
done

"${srv_pin[@]}" "$BIN/ceiling" --listen "$CEILING_ADDR" "${workers[@]}" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=${RUST_LOG:-warn} \
  "${srv_pin[@]}" "$BIN/queue-server" --listen "$QUEUE_ADDR" "${workers[@]}" > "$TMP/queue.log" 2>&1 &
PIDS+=($!)
wait_http "$CEILING_ADDR" ceiling "$TMP/ceiling.log"
wait_http "$QUEUE_ADDR" queue-server "$TMP/queue.log"

put_trickle_queue "$QUEUE_ADDR"

python3 bench/prejoin.py --url "http://$QUEUE_ADDR" --queue "$QUEUE_ID" \
  --count "$PREJOIN" --out "$TMP/entry_ids.txt"

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, PIN=$PIN, WRK_STRICT=$WRK_STRICT, $PREJOIN pre-joined entries"
: > "$TMP/rounds.txt"
# Each server is measured under the same client workload as its ceiling:
# join.lua builds a distinct request in Lua for every call, which costs wrk
# (on the same two cores) far more than replaying a fixed request, so join is
# compared with the ceiling answering join.lua's requests ("ceiling-join"),
# and poll with the ceiling answering poll.lua's ("ceiling").
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk ceiling bench/wrk/poll.lua "$CEILING_ADDR"; c=$RESULT
  run_wrk ceiling-join bench/wrk/join.lua "$CEILING_ADDR" RUN_ID="c$r-$(date +%s%N)"; cj=$RESULT
  run_wrk join bench/wrk/join.lua "$QUEUE_ADDR" RUN_ID="r$r-$(date +%s%N)"; j=$RESULT
  run_wrk poll bench/wrk/poll.lua "$QUEUE_ADDR"; p=$RESULT
  crps=$(field rps <<< "$c"); cjrps=$(field rps <<< "$cj")
  record "$r" "$crps" "$c"
  record "$r" "$cjrps" "$cj"
  record "$r" "$cjrps" "$j"
  record "$r" "$crps" "$p"
done
print_table ceiling ceiling-join join poll
echo "(join's ratio is to ceiling-join of the same round, poll's to ceiling)"

if (( any_errors )); then
  echo "queue.sh: some runs had errors (non-2xx or socket errors); do not trust their figures" >&2
  exit 1
fi
