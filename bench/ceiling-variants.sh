#!/usr/bin/env bash
# ceiling-variants.sh: measure the ceiling server's tuning variants side by side.
#
# Why: the defaults in bench/src/ceiling.rs must be the measured fastest on this
# machine, and one variant run alone proves nothing on a noisy shared box. Each
# round runs every variant once, back to back, so drift hits all of them alike;
# the medians over rounds go into bench/RESULTS.md ("Ceiling server tuning").
#
# Env: DURATION (s, default 4), ROUNDS (default 3), CONNECTIONS (default 64),
#      PIN=1 to run wrk on CPU 1 and the server on CPU 0 (default: no pinning),
#      BIN (default ${CARGO_TARGET_DIR:-target}/release/ceiling, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
PIN=${PIN:-0}
PORT=${PORT:-8099}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/ceiling}
[[ -x $BIN ]] || cargo build --release -p ticketon-bench

# name|ceiling flags
VARIANTS=(
  "multi/flush-off/writev-off|--runtime multi --pipeline-flush false --writev off"
  "multi/flush-on/writev-off|--runtime multi --pipeline-flush true --writev off"
  "multi/flush-off/writev-auto|--runtime multi --pipeline-flush false --writev auto"
  "per-core/flush-off/writev-off|--runtime per-core --pipeline-flush false --writev off"
  "per-core/flush-on/writev-off|--runtime per-core --pipeline-flush true --writev off"
)

SERVER_PID=
TMP=$(mktemp -d)
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

seq 1 1000 | sed 's/^/id-/' > "$TMP/ids.txt"
srv_pin=(); wrk_pin=()
if [[ $PIN == 1 ]]; then srv_pin=(taskset -c 0); wrk_pin=(taskset -c 1); fi

if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; then
  echo "ceiling-variants.sh: something already listens on port $PORT" >&2; exit 1
fi

for ((r = 1; r <= ROUNDS; r++)); do
  for v in "${VARIANTS[@]}"; do
    name=${v%%|*}; flags=${v#*|}
    rm -f "$TMP/server.log"
    # shellcheck disable=SC2086
    "${srv_pin[@]}" "$BIN" --listen "127.0.0.1:$PORT" $flags > "$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    # Probe the port, not the log: the background job truncates the log only
    # after it forks, so a log check can still see the previous variant's line.
    for _ in $(seq 1 50); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" || { echo "ceiling ($name) did not start:" >&2; cat "$TMP/server.log" >&2; exit 1; }
    line=$(WRK_STRICT=1 WRK_LABEL="$name" ENTRY_IDS_FILE="$TMP/ids.txt" \
      "${wrk_pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/wrk/poll.lua \
      "http://127.0.0.1:$PORT" | grep '^WRKRESULT')
    echo "round=$r $line"
    echo "$line" >> "$TMP/all.txt"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  done
done

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
# Median of numbers on stdin (mean of the middle two when the count is even).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo
echo "medians over $ROUNDS rounds (PIN=$PIN, -t1 -c$CONNECTIONS -d${DURATION}s):"
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  rps=$(grep " label=$name " "$TMP/all.txt" | field rps | median)
  p99=$(grep " label=$name " "$TMP/all.txt" | field p99_us | median)
  printf '  %-32s rps=%9.0f  p99_us=%6.0f\n' "$name" "$rps" "$p99"
done
