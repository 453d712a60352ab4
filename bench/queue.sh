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

for tool in wrk curl python3; do
  command -v "$tool" > /dev/null || { echo "queue.sh: $tool not found (run bench/setup.sh)" >&2; exit 1; }
done

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server -p ticketon-bench
fi

PIDS=()
TMP=$(mktemp -d)
cleanup() {
  if [[ -n ${WRK_PID:-} ]]; then kill "$WRK_PID" 2> /dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

srv_pin=(); wrk_pin=(); workers=()
if [[ $PIN == 1 ]]; then
  srv_pin=(taskset -c 0); wrk_pin=(taskset -c 1); workers=(--workers 1)
fi

port_busy() { curl -s -o /dev/null --max-time 1 "http://$1/" ; }
wait_http() { # addr name log
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 "http://$1/"; then return 0; fi
    sleep 0.1
  done
  echo "queue.sh: $2 did not answer on $1; its log:" >&2
  cat "$3" >&2
  exit 1
}

for addr in $CEILING_ADDR $QUEUE_ADDR; do
  if port_busy "$addr"; then echo "queue.sh: something already listens on $addr" >&2; exit 1; fi
done

"${srv_pin[@]}" "$BIN/ceiling" --listen "$CEILING_ADDR" "${workers[@]}" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-secret RUST_LOG=${RUST_LOG:-warn} \
  "${srv_pin[@]}" "$BIN/queue-server" --listen "$QUEUE_ADDR" "${workers[@]}" > "$TMP/queue.log" 2>&1 &
PIDS+=($!)
wait_http "$CEILING_ADDR" ceiling "$TMP/ceiling.log"
wait_http "$QUEUE_ADDR" queue-server "$TMP/queue.log"

# One admission per second and one active slot: everyone we add stays waiting,
# so join and poll measure the waiting-room path, not admission.
status=$(curl -s -o "$TMP/put.json" -w '%{http_code}' -X PUT \
  -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d '{"admissionRatePerSec":1,"maxActive":1,"sessionTtlSec":600}' \
  "http://$QUEUE_ADDR/v1/api/queues/$QUEUE_ID")
if [[ $status != 200 && $status != 201 ]]; then
  echo "queue.sh: creating queue $QUEUE_ID returned HTTP $status: $(cat "$TMP/put.json")" >&2
  exit 1
fi

python3 bench/prejoin.py --url "http://$QUEUE_ADDR" --queue "$QUEUE_ID" \
  --count "$PREJOIN" --out "$TMP/entry_ids.txt"

WRK_PID=
RESULT=
# Runs wrk in the background and waits for it, so a TERM/INT interrupts the
# wait at once and cleanup() can kill wrk too. Sets RESULT to the WRKRESULT line.
run_wrk() { # label script addr [extra env...]
  local label=$1 script=$2 addr=$3; shift 3
  env WRK_LABEL="$label" QUEUE_ID="$QUEUE_ID" ENTRY_IDS_FILE="$TMP/entry_ids.txt" "$@" \
    "${wrk_pin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "http://$addr" \
    > "$TMP/wrk.out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=
  if ! RESULT=$(grep '^WRKRESULT' "$TMP/wrk.out"); then
    echo "queue.sh: wrk ($label) printed no result:" >&2
    cat "$TMP/wrk.out" >&2
    exit 1
  fi
}

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
# Median of numbers on stdin (mean of the middle two when the count is even).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
errors_of() { # sum of every error counter in a WRKRESULT line (non2xx=-1 means "not counted")
  local line=$1 sum=0 v
  for f in non2xx status_ge400 connect read write timeout; do
    v=$(field "$f" <<< "$line")
    if (( v > 0 )); then sum=$((sum + v)); fi
  done
  echo "$sum"
}

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, PIN=$PIN, WRK_STRICT=$WRK_STRICT, $PREJOIN pre-joined entries"
: > "$TMP/rounds.txt"
any_errors=0
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk ceiling bench/wrk/poll.lua "$CEILING_ADDR"; c=$RESULT
  run_wrk join bench/wrk/join.lua "$QUEUE_ADDR" RUN_ID="r$r-$(date +%s%N)"; j=$RESULT
  run_wrk poll bench/wrk/poll.lua "$QUEUE_ADDR"; p=$RESULT
  crps=$(field rps <<< "$c")
  for line in "$c" "$j" "$p"; do
    label=$(field label <<< "$line"); rps=$(field rps <<< "$line")
    p50=$(field p50_us <<< "$line"); p99=$(field p99_us <<< "$line")
    errs=$(errors_of "$line")
    ratio=$(awk -v a="$rps" -v b="$crps" 'BEGIN { printf "%.3f", a / b }')
    echo "$r $label $rps $p50 $p99 $ratio $errs" >> "$TMP/rounds.txt"
    printf 'round %d  %-8s rps=%10.0f  p50=%6dus  p99=%6dus  ratio=%s  errors=%d\n' \
      "$r" "$label" "$rps" "$p50" "$p99" "$ratio" "$errs"
    if (( errs > 0 )); then any_errors=1; echo "  errors: $line"; fi
  done
done

echo
echo "| run | req/s (median) | p50 µs | p99 µs | ratio to ceiling | errors (sum) |"
echo "|---|---:|---:|---:|---:|---:|"
for label in ceiling join poll; do
  col() { awk -v l="$label" -v c="$1" '$2 == l { print $c }' "$TMP/rounds.txt"; }
  printf '| %s | %.0f | %.0f | %.0f | %.3f | %d |\n' "$label" \
    "$(col 3 | median)" "$(col 4 | median)" "$(col 5 | median)" "$(col 6 | median)" \
    "$(col 7 | awk '{ s += $1 } END { print s + 0 }')"
done

if (( any_errors )); then
  echo "queue.sh: some runs had errors (non-2xx or socket errors); do not trust their figures" >&2
  exit 1
fi
