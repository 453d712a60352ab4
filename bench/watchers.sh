#!/usr/bin/env bash
# watchers.sh: idle push streams on one queue-server or on a fleet (issue 12).
#
# What it measures, for one KIND (sse or ws) per run:
#   - server memory per idle watcher: RSS growth of the queue-server(s) from before the streams
#     open to after, divided by WATCHERS; the kernel's TCP buffer memory (/proc/net/sockstat,
#     both ends of every loopback socket) is reported apart;
#   - an admission wave: the queue (open, one active slot, WATCHERS fans waiting) gets maxActive
#     WAVE + 1 at rate RATE, so the frontier moves by WAVE within WAVE/RATE s with no status
#     change; for each fan admitted, the delay from its admission (expiresAt − TTL) to the pushed
#     message reaching the client: p50, p99, max;
#   - server CPU per 1,000 messages over the wave (utime+stime from /proc, against the
#     ticketon_queue_push_messages_total delta).
#
# One process may hold 20,000 files here and one source address reaches one server address about
# 28,000 times, so the client runs CLIENTS processes, each from its own 127.0.0.x, and a fleet
# (SERVERS > 1) shares one Redis, each server with at most ~19,000 streams. The servers' header
# read timeout is raised to 60 s: with a fleet and its clients on two cores, a client process can
# be descheduled for over 10 s between connecting and sending its request head, and the default
# timeout then closes the connection under it ("Handshake not finished", 5-6 % of 100,000).
#
# Env (defaults in brackets):
#   KIND [sse]          sse | ws
#   WATCHERS [19000]    streams in all           SERVERS [1]       queue-servers (>1: on Redis)
#   CLIENTS [4]         client processes         WAVE [2000]       fans admitted in the wave
#   RATE [20000]        admission rate of the wave, per second
#   REDIS_URL [redis://127.0.0.1:6379]           SKIP_BUILD [0]
set -euo pipefail
cd "$(dirname "$0")/.."

KIND=${KIND:-sse}
WATCHERS=${WATCHERS:-19000}
SERVERS=${SERVERS:-1}
CLIENTS=${CLIENTS:-4}
WAVE=${WAVE:-2000}
RATE=${RATE:-20000}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
SKIP_BUILD=${SKIP_BUILD:-0}
ADMIN_KEY=bench-admin
QUEUE_ID=watch
TTL=600
BIN=${CARGO_TARGET_DIR:-target}/release
BASE_PORT=18182

source bench/lib.sh
require_tools curl python3 redis-cli
# Every process may open as many files as the machine allows (20,000 here).
ulimit -n "$(ulimit -Hn)"

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server -p ticketon-bench --bin watchers
fi

TMP=$(mktemp -d)
CLIENT_PIDS=()
cleanup() {
  for pid in "${CLIENT_PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  bench_cleanup
  if [[ -n ${PREFIX:-} ]]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" unlink > /dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

per_server=$(( (WATCHERS + SERVERS - 1) / SERVERS ))
if (( per_server > 19000 )); then
  echo "watchers.sh: $per_server streams per server is over the 20,000-file limit; add SERVERS" >&2
  exit 1
fi
store_args=()
if (( SERVERS > 1 )); then
  PREFIX="ticketon-bench-watchers-$(date +%s)"
  store_args=(--redis-url "$REDIS_URL" --redis-prefix "$PREFIX")
fi

urls=()
for ((s = 0; s < SERVERS; s++)); do
  addr=127.0.0.1:$((BASE_PORT + s))
  if port_busy "$addr"; then echo "watchers.sh: something already listens on $addr" >&2; exit 1; fi
  TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-secret-bench-secret-bench-secret \
    RUST_LOG=warn "$BIN/queue-server" --listen "$addr" "${store_args[@]}" \
    --max-connections 19500 --max-streams-per-ip 0 --header-read-timeout-ms 60000 \
    > "$TMP/server-$s.log" 2>&1 &
  PIDS+=($!)
  wait_http "$addr" "queue-server $s" "$TMP/server-$s.log"
  urls+=("$addr")
done
url_list=$(IFS=,; echo "${urls[*]}")

rss_kb() { local sum=0; for pid in "${PIDS[@]}"; do sum=$((sum + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"))); done; echo "$sum"; }
cpu_ticks() { local sum=0; for pid in "${PIDS[@]}"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$sum"; }
tcp_mem_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
push_messages() {
  local sum=0 n
  for addr in "${urls[@]}"; do
    n=$(curl -s "http://$addr/metrics" | awk '/^ticketon_queue_push_messages_total/ {print $2}')
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
}

"$BIN/watchers" setup --queue-url "${urls[0]}" --admin-key "$ADMIN_KEY" --queue "$QUEUE_ID" \
  --fans "$WATCHERS" --rate "$RATE" --max-active 1 --session-ttl-sec "$TTL" --out "$TMP/entries.txt"
sleep 1 # the fleet's mirrors catch up with the line
rss_before=$(rss_kb); tcp_before=$(tcp_mem_pages)

per_client=$(( (WATCHERS + CLIENTS - 1) / CLIENTS ))
started=$(date +%s%N)
for ((c = 0; c < CLIENTS; c++)); do
  from=$((c * per_client)); to=$(( (c + 1) * per_client )); (( to > WATCHERS )) && to=$WATCHERS
  "$BIN/watchers" watch --queue-urls "$url_list" --queue "$QUEUE_ID" --entries "$TMP/entries.txt" \
    --from "$from" --to "$to" --kind "$KIND" --source "127.0.0.$((c + 2))" --session-ttl-sec "$TTL" \
    --ready "$TMP/ready-$c" --report "$TMP/report-$c.json" > "$TMP/client-$c.log" 2>&1 &
  CLIENT_PIDS+=($!)
done
for ((c = 0; c < CLIENTS; c++)); do
  for _ in $(seq 1 6000); do [[ -f $TMP/ready-$c ]] && break; sleep 0.1; done
  [[ -f $TMP/ready-$c ]] || { echo "watchers.sh: client $c not ready:" >&2; cat "$TMP/client-$c.log" >&2; exit 1; }
done
open_s=$(( ($(date +%s%N) - started) / 1000000 ))
sleep 3 # let allocations settle
rss_after=$(rss_kb); tcp_after=$(tcp_mem_pages)

# The wave.
cpu_before=$(cpu_ticks); msgs_before=$(push_messages)
curl -s -o /dev/null -X PUT -H "Authorization: Bearer $ADMIN_KEY" \
  -d "{\"admissionRatePerSec\":$RATE,\"maxActive\":$((WAVE + 1)),\"sessionTtlSec\":$TTL}" \
  "http://${urls[0]}/v1/api/queues/$QUEUE_ID"
sleep $(( WAVE / RATE + 5 ))
cpu_after=$(cpu_ticks); msgs_after=$(push_messages)
for pid in "${CLIENT_PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
CLIENT_PIDS=()

python3 - "$TMP" "$CLIENTS" <<EOF
import json, sys
tmp, clients = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{tmp}/report-{c}.json")) for c in range(clients)]
delays = sorted(d for r in reports for d in r["admissionDelaysMs"])
def pct(p): return delays[min(len(delays) - 1, int(p / 100 * len(delays)))] if delays else float("nan")
watchers = $WATCHERS
rss = ($rss_after - $rss_before) * 1024 / watchers
tcp = ($tcp_after - $tcp_before) * 4096 / watchers
ticks = $cpu_after - $cpu_before
msgs = $msgs_after - $msgs_before
cpu_ms_per_k = ticks * 10 / msgs * 1000 if msgs else float("nan")
opened = sum(r["opened"] for r in reports); failed = sum(r["failed"] for r in reports)
failures = {}
for r in reports:
    for why, n in r.get("failures", {}).items():
        failures[why] = failures.get(why, 0) + n
for why, n in sorted(failures.items(), key=lambda kv: -kv[1]):
    print(f"failed to open: {n} x {why}")
print(f"| kind | servers | watchers | opened | failed | open time s | RSS bytes/watcher | kernel TCP bytes/watcher | wave admitted | push delay p50 / p99 / max ms | messages in wave | server CPU ms per 1,000 messages |")
print(f"|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
print(f"| $KIND | $SERVERS | {watchers} | {opened} | {failed} | {$open_s / 1000:.1f} | {rss:.0f} | {tcp:.0f} | {len(delays)} | {pct(50)} / {pct(99)} / {delays[-1] if delays else 'nan'} | {msgs} | {cpu_ms_per_k:.1f} |")
EOF
