#!/usr/bin/env bash
# watchers-load.sh: do idle push streams slow joins and polls? (issue 12)
#
# One queue-server and the bare-hyper ceiling, side by side as in queue.sh. Each round runs
# (ceiling, ceiling-join, join, poll) twice: once with no stream open, once with WATCHERS idle
# streams (KIND, on another, paused queue) held open by two client processes from 127.0.0.2 and
# 127.0.0.3. Each server run is divided by the ceiling of the same round and phase; the table
# gives medians, and the last lines the median of (ratio with streams / ratio without).
#
# Env (defaults in brackets): WATCHERS [10000]  KIND [sse]  DURATION [10]  ROUNDS [3]
#   CONNECTIONS [64]  THREADS [1]  PREJOIN [10000]  WRK_STRICT [0] (no response() hook: the
#   fastest client)  SKIP_BUILD [0]
set -euo pipefail
cd "$(dirname "$0")/.."

WATCHERS=${WATCHERS:-10000}
KIND=${KIND:-sse}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PREJOIN=${PREJOIN:-10000}
SKIP_BUILD=${SKIP_BUILD:-0}
export WRK_STRICT=${WRK_STRICT:-0}
CEILING_ADDR=127.0.0.1:8099
QUEUE_ADDR=127.0.0.1:18082
QUEUE_ID=bench
ADMIN_KEY=bench-admin
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools wrk curl python3
ulimit -n "$(ulimit -Hn)"

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server && cargo build --release -p ticketon-bench --bin ceiling --bin watchers
fi

TMP=$(mktemp -d)
CLIENT_PIDS=()
stop_clients() {
  for pid in "${CLIENT_PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  CLIENT_PIDS=()
}
trap 'stop_clients; bench_cleanup' EXIT
trap 'exit 130' INT TERM

for addr in $CEILING_ADDR $QUEUE_ADDR; do
  if port_busy "$addr"; then echo "watchers-load.sh: something already listens on $addr" >&2; exit 1; fi
done
"$BIN/ceiling" --listen "$CEILING_ADDR" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=${RUST_LOG:-warn} \
  "$BIN/queue-server" --listen "$QUEUE_ADDR" --max-streams-per-ip 0 > "$TMP/queue.log" 2>&1 &
PIDS+=($!)
wait_http "$CEILING_ADDR" ceiling "$TMP/ceiling.log"
wait_http "$QUEUE_ADDR" queue-server "$TMP/queue.log"

put_trickle_queue "$QUEUE_ADDR"
python3 bench/prejoin.py --url "http://$QUEUE_ADDR" --queue "$QUEUE_ID" \
  --count "$PREJOIN" --out "$TMP/entry_ids.txt"
"$BIN/watchers" setup --queue-url "$QUEUE_ADDR" --admin-key "$ADMIN_KEY" --queue watch \
  --fans "$WATCHERS" --max-active 1 --out "$TMP/watch_entries.txt"

start_clients() {
  local half=$(( (WATCHERS + 1) / 2 )) c
  for c in 0 1; do
    rm -f "$TMP/ready-$c"
    "$BIN/watchers" watch --queue-urls "$QUEUE_ADDR" --queue watch --entries "$TMP/watch_entries.txt" \
      --from $((c * half)) --to $(( (c + 1) * half )) --kind "$KIND" --source "127.0.0.$((c + 2))" \
      --ready "$TMP/ready-$c" --report "$TMP/report-$c.json" > "$TMP/client-$c.log" 2>&1 &
    CLIENT_PIDS+=($!)
  done
  for c in 0 1; do
    for _ in $(seq 1 600); do [[ -f $TMP/ready-$c ]] && break; sleep 0.1; done
    [[ -f $TMP/ready-$c ]] || { echo "watchers-load.sh: client $c not ready" >&2; cat "$TMP/client-$c.log" >&2; exit 1; }
  done
  sleep 2
}

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, WRK_STRICT=$WRK_STRICT, $WATCHERS idle $KIND streams in the second phase"
: > "$TMP/rounds.txt"
phase() { # suffix round
  local s=$1 r=$2 c cj j p
  run_wrk "ceiling$s" bench/wrk/poll.lua "$CEILING_ADDR"; c=$RESULT
  run_wrk "ceiling-join$s" bench/wrk/join.lua "$CEILING_ADDR" RUN_ID="c$s$r-$(date +%s%N)"; cj=$RESULT
  run_wrk "join$s" bench/wrk/join.lua "$QUEUE_ADDR" RUN_ID="r$s$r-$(date +%s%N)"; j=$RESULT
  run_wrk "poll$s" bench/wrk/poll.lua "$QUEUE_ADDR"; p=$RESULT
  record "$r" "$(field rps <<< "$c")" "$c"
  record "$r" "$(field rps <<< "$cj")" "$cj"
  record "$r" "$(field rps <<< "$cj")" "$j"
  record "$r" "$(field rps <<< "$c")" "$p"
}
for ((r = 1; r <= ROUNDS; r++)); do
  phase "" "$r"
  start_clients
  open=$(curl -s "http://$QUEUE_ADDR/metrics" | awk -v k="$KIND" '$1 ~ "push_streams_open" && $1 ~ (k == "ws" ? "websocket" : "sse") { print $2 }')
  echo "round $r: $open streams open"
  phase "+streams" "$r"
  stop_clients
done
print_table ceiling ceiling-join join poll "ceiling+streams" "ceiling-join+streams" "join+streams" "poll+streams"
ratio_of() { awk -v l="$1" '$2 == l { print $1, $6 }' "$TMP/rounds.txt"; }
for op in join poll; do
  m=$(join <(ratio_of "$op+streams" | sort) <(ratio_of "$op" | sort) | awk '{ print $2 / $3 }' | median)
  echo "$op: median over rounds of (ratio to the ceiling with $WATCHERS streams / without) = $m"
done
if (( any_errors )); then
  echo "watchers-load.sh: some runs had errors; do not trust their figures" >&2
  exit 1
fi
