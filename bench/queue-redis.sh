#!/usr/bin/env bash
# queue-redis.sh: the queue-server on Redis (issue 3) side by side with the
# memory store and the bare-hyper ceiling, in one run.
#
# Why one run: the box is 2 shared cores and figures drift by tens of percent
# between minutes, so every contender runs once per round, back to back, and
# each is divided by the ceiling of the same round (as bench/queue.sh does).
# Contenders: the ceiling under poll.lua and under join.lua (the fair
# reference for joins: wrk's Lua costs differ); join and poll on the memory
# store; join and poll on Redis (group commit, the default); join on Redis
# one call per join, pipelined on the shared connection and pooled (a
# connection per join in flight: a full round trip each), to show what
# batching buys.
#
# Every server runs WORKERS tokio worker threads (default 1): on two cores
# wrk takes one and Redis a share of the other, and a second worker thread
# only adds cross-thread wake-ups (measured: join on Redis 0.79x the
# ceiling with one worker each, 0.58x with two). The ceiling under join.lua
# also runs with two workers (ceiling-join-2w), so the table shows whether
# one worker holds the ceiling back.
#
# PIN=1 gives the system under test one core and the load generator the
# other: every server (the ceiling too) on CPU 0, wrk on CPU 1, and Redis on
# CPU 0 beside the queue-servers. Unpinned, the scheduler keeps moving
# Redis between the queue-server's core and wrk's, and a sixth of the two
# cores stays idle (bench/RESULTS.md); pinned, a Redis run measures what one
# core does for a queue-server and its Redis together, as the ceiling's run
# measures what one core does for bare hyper. So as not to move the
# machine's shared Redis, PIN=1 starts a Redis of its own (no persistence)
# on REDIS_PORT unless REDIS_URL is given (then that Redis is not pinned).
# (ceiling-join-2w then runs its two workers on core 0 too.)
#
# Also reported: Redis CPU during each Redis run (from /proc of the
# redis-server process, when Redis runs on this machine) and Redis memory per
# waiting entry (MEMORY USAGE of the queue's keys / entries, after the runs'
# hundreds of thousands of joins).
#
# Env (defaults in brackets):
#   DURATION [10] ROUNDS [5] CONNECTIONS [64] THREADS [1] PREJOIN [10000] WORKERS [1]
#   REDIS_URL [redis://127.0.0.1:6379; with PIN=1 a Redis of its own]
#   PIN [0]  REDIS_PORT [6391, PIN=1's own Redis]  SKIP_BUILD [0]  WRK_STRICT [1]
# Ports: 8099 ceiling, 8098 ceiling with 2 workers, 18082 memory, 18083 Redis,
# 18084 Redis pipelined, 18085 Redis pooled.
# Keys live under a fresh prefix "ticketon-bench-<time>" and are deleted at exit.
# Exit status: 0 if every run had zero errors, 1 otherwise (figures still printed).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PREJOIN=${PREJOIN:-10000}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-0}
REDIS_PORT=${REDIS_PORT:-6391}
OWN_REDIS=0
if [[ $PIN == 1 && -z ${REDIS_URL:-} ]]; then
  OWN_REDIS=1
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT
fi
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export WRK_STRICT=${WRK_STRICT:-1}
CEILING=127.0.0.1:8099
CEILING_2W=127.0.0.1:8098
MEM=127.0.0.1:18082
RDS=127.0.0.1:18083
RDS_PIPELINED=127.0.0.1:18084
RDS_POOLED=127.0.0.1:18085
QUEUE_ID=bench
ADMIN_KEY=bench-admin
PREFIX=ticketon-bench-$(date +%s)
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools wrk curl python3 redis-cli
rcli() { redis-cli -u "$REDIS_URL" "$@"; }

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server && cargo build --release -p ticketon-bench --bin ceiling
fi

TMP=$(mktemp -d)
srv_pin=()
if [[ $PIN == 1 ]]; then
  require_tools taskset
  srv_pin=(taskset -c 0)
  wrk_pin=(taskset -c 1)
fi
cleanup() {
  # UNLINK frees the big keys in a Redis background thread.
  for p in "$PREFIX" "$PREFIX-pipelined" "$PREFIX-pooled"; do
    rcli --scan --pattern "$p:*" | xargs -r redis-cli -u "$REDIS_URL" unlink > /dev/null || true
  done
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for addr in $CEILING $CEILING_2W $MEM $RDS $RDS_PIPELINED $RDS_POOLED; do
  if port_busy "$addr"; then echo "$0: something already listens on $addr" >&2; exit 1; fi
done

if [[ $OWN_REDIS == 1 ]]; then
  if redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1; then
    echo "$0: something already answers on Redis port $REDIS_PORT (set REDIS_PORT)" >&2
    exit 1
  fi
  require_tools redis-server
  "${srv_pin[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    > "$TMP/redis-server.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do rcli ping > /dev/null 2>&1 && break; sleep 0.1; done
fi
rcli ping > /dev/null || { echo "queue-redis.sh: no Redis at $REDIS_URL" >&2; exit 1; }

qs() { # addr log [extra flags...]
  local addr=$1 log=$2; shift 2
  TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=${RUST_LOG:-warn} \
    "${srv_pin[@]}" "$BIN/queue-server" --listen "$addr" --workers "$WORKERS" "$@" > "$log" 2>&1 &
  PIDS+=($!)
}
"${srv_pin[@]}" "$BIN/ceiling" --listen "$CEILING" --workers "$WORKERS" > "$TMP/ceiling.log" 2>&1 &
PIDS+=($!)
"${srv_pin[@]}" "$BIN/ceiling" --listen "$CEILING_2W" --workers 2 > "$TMP/ceiling-2w.log" 2>&1 &
PIDS+=($!)
qs "$MEM" "$TMP/mem.log"
qs "$RDS" "$TMP/redis.log" --redis-url "$REDIS_URL" --redis-prefix "$PREFIX"
qs "$RDS_PIPELINED" "$TMP/redis-pipelined.log" --redis-url "$REDIS_URL" --redis-prefix "$PREFIX-pipelined" --redis-join-mode pipelined
qs "$RDS_POOLED" "$TMP/redis-pooled.log" --redis-url "$REDIS_URL" --redis-prefix "$PREFIX-pooled" --redis-join-mode pooled
wait_http "$CEILING" ceiling "$TMP/ceiling.log"
wait_http "$CEILING_2W" ceiling-2w "$TMP/ceiling-2w.log"
wait_http "$MEM" memory "$TMP/mem.log"
wait_http "$RDS" redis "$TMP/redis.log"
wait_http "$RDS_PIPELINED" redis-pipelined "$TMP/redis-pipelined.log"
wait_http "$RDS_POOLED" redis-pooled "$TMP/redis-pooled.log"

for addr in $MEM $RDS $RDS_PIPELINED $RDS_POOLED; do put_trickle_queue "$addr"; done
python3 bench/prejoin.py --url "http://$MEM" --queue "$QUEUE_ID" --count "$PREJOIN" --out "$TMP/ids-mem.txt"
python3 bench/prejoin.py --url "http://$RDS" --queue "$QUEUE_ID" --count "$PREJOIN" --out "$TMP/ids-redis.txt"

# Redis CPU: utime + stime of the redis-server process, in clock ticks.
REDIS_PID=$(rcli info server | tr -d '\r' | sed -n 's/^process_id://p')
TCK=$(getconf CLK_TCK)
redis_ticks() {
  if [[ -r /proc/$REDIS_PID/stat ]]; then awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat"; else echo -1; fi
}

# lib.sh's run_wrk, plus Redis CPU over the run in % of one core in
# REDIS_CPU (-1: not measurable).
run_wrk_cpu() { # label script addr ids-file [extra env...]
  local label=$1 script=$2 addr=$3 ids=$4 t0 t1; shift 4
  t0=$(redis_ticks)
  run_wrk "$label" "$script" "$addr" ENTRY_IDS_FILE="$ids" "$@"
  t1=$(redis_ticks)
  if (( t0 >= 0 )); then
    REDIS_CPU=$(awk -v a="$t0" -v b="$t1" -v h="$TCK" -v d="$DURATION" 'BEGIN { printf "%.0f", (b - a) / h / d * 100 }')
  else
    REDIS_CPU=-1
  fi
}

LABELS=(ceiling ceiling-join ceiling-join-2w join-mem poll-mem join-redis poll-redis join-redis-pipelined join-redis-pooled)
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, PIN=$PIN, $WORKERS worker thread(s) per server, WRK_STRICT=$WRK_STRICT, $PREJOIN pre-joined entries, Redis $REDIS_URL (pid $REDIS_PID)"
: > "$TMP/rounds.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  lines=()
  for label in "${LABELS[@]}"; do
    case $label in
      ceiling) run_wrk_cpu "$label" bench/wrk/poll.lua "$CEILING" "$TMP/ids-mem.txt" ;;
      ceiling-join) run_wrk_cpu "$label" bench/wrk/join.lua "$CEILING" "$TMP/ids-mem.txt" RUN_ID="r$r-$(date +%s%N)" ;;
      ceiling-join-2w) run_wrk_cpu "$label" bench/wrk/join.lua "$CEILING_2W" "$TMP/ids-mem.txt" RUN_ID="r$r-$(date +%s%N)" ;;
      join-mem) run_wrk_cpu "$label" bench/wrk/join.lua "$MEM" "$TMP/ids-mem.txt" RUN_ID="r$r-$(date +%s%N)" ;;
      poll-mem) run_wrk_cpu "$label" bench/wrk/poll.lua "$MEM" "$TMP/ids-mem.txt" ;;
      join-redis) run_wrk_cpu "$label" bench/wrk/join.lua "$RDS" "$TMP/ids-redis.txt" RUN_ID="r$r-$(date +%s%N)" ;;
      poll-redis) run_wrk_cpu "$label" bench/wrk/poll.lua "$RDS" "$TMP/ids-redis.txt" ;;
      join-redis-pipelined) run_wrk_cpu "$label" bench/wrk/join.lua "$RDS_PIPELINED" "$TMP/ids-redis.txt" RUN_ID="r$r-$(date +%s%N)" ;;
      join-redis-pooled) run_wrk_cpu "$label" bench/wrk/join.lua "$RDS_POOLED" "$TMP/ids-redis.txt" RUN_ID="r$r-$(date +%s%N)" ;;
    esac
    lines+=("$RESULT|$REDIS_CPU")
  done
  crps=$(field rps <<< "${lines[0]%|*}")
  for entry in "${lines[@]}"; do
    line=${entry%|*}; cpu=${entry##*|}
    label=$(field label <<< "$line"); rps=$(field rps <<< "$line")
    p50=$(field p50_us <<< "$line"); p99=$(field p99_us <<< "$line")
    errs=$(errors_of "$line")
    ratio=$(awk -v a="$rps" -v b="$crps" 'BEGIN { printf "%.3f", a / b }')
    cpu_us=$(awk -v c="$cpu" -v r="$rps" 'BEGIN { if (c >= 0 && r > 0) printf "%.2f", c * 10000 / r; else print -1 }')
    echo "$r $label $rps $p50 $p99 $ratio $errs $cpu $cpu_us" >> "$TMP/rounds.txt"
    printf 'round %d  %-16s rps=%10.0f  p50=%6dus  p99=%6dus  ratio=%s  errors=%d  redis_cpu=%s%%\n' \
      "$r" "$label" "$rps" "$p50" "$p99" "$ratio" "$errs" "$cpu"
    if (( errs > 0 )); then any_errors=1; echo "  errors: $line"; fi
  done
done

echo
echo "| run | req/s (median) | p50 µs | p99 µs | ratio to ceiling | Redis CPU (% of a core) | Redis CPU µs per request | errors (sum) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for label in "${LABELS[@]}"; do
  col() { awk -v l="$label" -v c="$1" '$2 == l { print $c }' "$TMP/rounds.txt"; }
  printf '| %s | %.0f | %.0f | %.0f | %.3f | %.0f | %.1f | %d |\n' "$label" \
    "$(col 3 | median)" "$(col 4 | median)" "$(col 5 | median)" "$(col 6 | median)" \
    "$(col 8 | median)" "$(col 9 | median)" "$(col 7 | awk '{ s += $1 } END { print s + 0 }')"
done
echo
echo "Medians of per-round ratios:"
printf 'join-redis / join-redis-pooled: %.2f   join-redis / join-redis-pipelined: %.2f\n' \
  "$(median_ratio join-redis join-redis-pooled)" "$(median_ratio join-redis join-redis-pipelined)"
printf 'against the ceiling under the same join.lua: join-mem %.3f  join-redis %.3f  join-redis-pipelined %.3f  join-redis-pooled %.3f\n' \
  "$(median_ratio join-mem ceiling-join)" "$(median_ratio join-redis ceiling-join)" \
  "$(median_ratio join-redis-pipelined ceiling-join)" "$(median_ratio join-redis-pooled ceiling-join)"
printf 'ceiling-join-2w / ceiling-join: %.3f   join-redis / ceiling-join-2w: %.3f\n' \
  "$(median_ratio ceiling-join-2w ceiling-join)" "$(median_ratio join-redis ceiling-join-2w)"
printf 'join-redis / join-mem: %.3f   poll-redis / poll-mem: %.3f\n' \
  "$(median_ratio join-redis join-mem)" "$(median_ratio poll-redis poll-mem)"

# Redis memory per waiting entry: every key of the queue, exactly (SAMPLES 0),
# the user index included.
keybase="$PREFIX:q:{$QUEUE_ID}"
entries=$(rcli llen "$keybase:line")
bytes=$(rcli eval "
  local s = 0
  local function add(k) local m = redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'); if m then s = s + m end end
  for _, k in ipairs({'meta', 'line', 'users', 'users-x', 'left', 'active', 'adm', 'lease'}) do add(KEYS[1] .. ':' .. k) end
  return s" 1 "$keybase" | tr -d '\r')
line_bytes=$(rcli memory usage "$keybase:line" samples 0 | tr -d '\r')
echo
echo "Redis memory: $entries entries in queue $QUEUE_ID, $bytes bytes in its keys (MEMORY USAGE ... SAMPLES 0), of which the line list $line_bytes"
awk -v b="$bytes" -v n="$entries" -v l="$line_bytes" 'BEGIN { if (n > 0) printf "Redis memory per waiting entry: %.1f bytes (line %.1f, user index %.1f)\n", b / n, l / n, (b - l) / n }'
echo "used_memory now: $(rcli info memory | tr -d '\r' | sed -n 's/^used_memory_human://p')"

if (( any_errors )); then
  echo "queue-redis.sh: some runs had errors (non-2xx or socket errors); do not trust their figures" >&2
  exit 1
fi
