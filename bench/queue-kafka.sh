#!/usr/bin/env bash
# queue-kafka.sh: what publishing every join to Kafka (`ticketon.entries`,
# --publish-entries) costs the join path (issue 5), side by side in one run.
#
# Contenders per round, back to back: the ceiling; join on a queue-server
# connected to Kafka with entries publishing off (admission events only); join
# on a second one with entries publishing on. Both talk to the same tansu
# broker that this script starts on a free port (.ci/tansu.sh). Reported: the
# median over rounds of join(on) / join(off) measured in the same round.
#
# Env (defaults in brackets): DURATION [10] ROUNDS [3] CONNECTIONS [64]
#   THREADS [1] SKIP_BUILD [0] WRK_STRICT [1] KAFKA_PORT [19092]
# Ports: 8099 ceiling, 18085 entries off, 18086 entries on.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
KAFKA_PORT=${KAFKA_PORT:-19092}
export WRK_STRICT=${WRK_STRICT:-1}
CEILING=127.0.0.1:8099
OFF=127.0.0.1:18085
ON=127.0.0.1:18086
QUEUE_ID=bench
ADMIN_KEY=bench-admin
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools wrk curl

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server && cargo build --release -p ticketon-bench --bin ceiling
fi

TMP=$(mktemp -d)
stop_broker() { bash .ci/tansu.sh stop "$KAFKA_PORT" > /dev/null 2>&1 || true; }
trap 'bench_cleanup; stop_broker' EXIT
trap 'exit 130' INT TERM

for addr in $CEILING $OFF $ON; do
  if port_busy "$addr"; then echo "$0: something already listens on $addr" >&2; exit 1; fi
done
bash .ci/tansu.sh install > /dev/null
bash .ci/tansu.sh start "$KAFKA_PORT" > /dev/null
BROKERS=127.0.0.1:$KAFKA_PORT

"$BIN/ceiling" --listen "$CEILING" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
start_queue() { # addr log [flags...]
  local addr=$1 log=$2; shift 2
  TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=${RUST_LOG:-warn} \
    "$BIN/queue-server" --listen "$addr" --kafka-brokers "$BROKERS" "$@" > "$log" 2>&1 &
  PIDS+=($!)
}
start_queue "$OFF" "$TMP/off.log"
start_queue "$ON" "$TMP/on.log" --publish-entries
wait_http "$CEILING" ceiling "$TMP/ceiling.log"
wait_http "$OFF" "queue-server (entries off)" "$TMP/off.log"
wait_http "$ON" "queue-server (entries on)" "$TMP/on.log"
put_trickle_queue "$OFF"
put_trickle_queue "$ON"
# The ceiling answers any GET; give poll.lua one id to send.
echo "AAAAAAAAAAEaRROzIkhc0-dymdA" > "$TMP/entry_ids.txt"

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, tansu on $BROKERS"
: > "$TMP/rounds.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk ceiling bench/wrk/poll.lua "$CEILING"; c=$RESULT
  run_wrk join-entries-off bench/wrk/join.lua "$OFF" RUN_ID="off$r-$(date +%s%N)"; off=$RESULT
  run_wrk join-entries-on bench/wrk/join.lua "$ON" RUN_ID="on$r-$(date +%s%N)"; on=$RESULT
  crps=$(field rps <<< "$c")
  for line in "$c" "$off" "$on"; do record "$r" "$crps" "$line"; done
done
print_table ceiling join-entries-off join-entries-on
echo
echo "join with entries publishing on / off (median of same-round ratios): $(median_ratio join-entries-on join-entries-off)"
delivered=$(curl -s "http://$ON/metrics" | sed -n 's/^ticketon_queue_events_published_total{outcome="delivered"} //p')
dropped=$(curl -s "http://$ON/metrics" | sed -n 's/^ticketon_queue_entry_events_dropped_total //p')
echo "entries server: events delivered to Kafka=$delivered, joined events dropped (buffer full)=$dropped"

if (( any_errors )); then
  echo "$0: some runs had errors (non-2xx or socket errors); do not trust their figures" >&2
  exit 1
fi
