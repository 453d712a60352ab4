#!/usr/bin/env bash
# draw-opening.sh: the opening of a scheduled sale with a big pre-queue, on the
# production layout (two queue-servers on one Redis).
#
# Fans join the pre-queue through both servers with wrk for JOIN_SECS; the sale
# opens OPEN_GAP seconds later. From the opening, each server's queue is read
# every 5 ms until it shows the draw committed (`drawn`): the time from
# `opensAt` to a place for everyone, on the lease holder and on the other
# server (which downloads the order). Then the published record is fetched from
# both servers, compared, and checked with `draw-verify`.
#
# Env: JOIN_SECS [20] OPEN_GAP [4] CONNECTIONS [64] REDIS_URL [redis://127.0.0.1:6379]
#      SKIP_BUILD [0]. Ports 18183, 18184. Keys under a fresh prefix, deleted at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

JOIN_SECS=${JOIN_SECS:-20}
OPEN_GAP=${OPEN_GAP:-4}
CONNECTIONS=${CONNECTIONS:-64}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
SKIP_BUILD=${SKIP_BUILD:-0}
A=127.0.0.1:18183
B=127.0.0.1:18184
QUEUE_ID=opening
ADMIN_KEY=bench-admin
PREFIX=ticketon-draw-$(date +%s)
BIN=${CARGO_TARGET_DIR:-target}/release
export WRK_STRICT=0

source bench/lib.sh
require_tools wrk curl python3 redis-cli
if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server && cargo build --release -p ticketon-bench --bin draw-verify
fi
TMP=$(mktemp -d)
cleanup() {
  redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX:*" | xargs -r redis-cli -u "$REDIS_URL" unlink > /dev/null || true
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for addr in $A $B; do
  if port_busy "$addr"; then echo "$0: something already listens on $addr" >&2; exit 1; fi
done
for addr in $A $B; do
  TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=bench-token-secret-of-at-least-32-bytes RUST_LOG=${RUST_LOG:-info} \
    "$BIN/queue-server" --listen "$addr" --redis-url "$REDIS_URL" --redis-prefix "$PREFIX" > "$TMP/$addr.log" 2>&1 &
  PIDS+=($!)
done
wait_http "$A" a "$TMP/$A.log"
wait_http "$B" b "$TMP/$B.log"

opens_ms=$(( $(date +%s%3N) + (JOIN_SECS + OPEN_GAP) * 1000 ))
opens_at=$(date -u -d "@$(( opens_ms / 1000 )).$(printf %03d $(( opens_ms % 1000 )))" +%Y-%m-%dT%H:%M:%S.%3NZ)
curl -sf -X PUT "http://$A/v1/api/queues/$QUEUE_ID" -H "authorization: Bearer $ADMIN_KEY" \
  -H 'content-type: application/json' \
  -d "{\"admissionRatePerSec\":1000,\"maxActive\":1000000,\"sessionTtlSec\":600,\"opensAt\":\"$opens_at\",\"prequeue\":true}" > /dev/null
echo "pre-queue open until $opens_at; joining through both servers for ${JOIN_SECS}s"
QUEUE_ID=$QUEUE_ID RUN_ID=a wrk -t1 -c$((CONNECTIONS / 2)) -d"${JOIN_SECS}s" -s bench/wrk/join.lua "http://$A" > "$TMP/wrk-a.txt" 2>&1 &
wrk_a=$!
QUEUE_ID=$QUEUE_ID RUN_ID=b wrk -t1 -c$((CONNECTIONS / 2)) -d"${JOIN_SECS}s" -s bench/wrk/join.lua "http://$B" > "$TMP/wrk-b.txt" 2>&1
wait "$wrk_a"
python3 - "$A" "$B" "$QUEUE_ID" "$opens_ms" <<'PY'
import json, sys, time, urllib.request
a, b, queue, opens_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def info(addr):
    with urllib.request.urlopen(f"http://{addr}/v1/api/queues/{queue}", timeout=5) as r:
        return json.load(r)
before = info(a)
print(f"participants: {before['waiting']} waiting, status {before['status']}")
while time.time() * 1000 < opens_ms:
    time.sleep(0.001)
seen = {}
while len(seen) < 2 and time.time() * 1000 < opens_ms + 30_000:
    for name, addr in (("A", a), ("B", b)):
        if name not in seen and info(addr)["drawn"] > 0:
            seen[name] = time.time() * 1000 - opens_ms
    time.sleep(0.005)
for name, ms in seen.items():
    print(f"drawn on {name}: {ms:.0f} ms after opensAt")
if len(seen) < 2:
    sys.exit("the draw was not seen on both servers within 30 s")
PY
t0=$(date +%s%3N)
curl -sf "http://$A/v1/api/queues/$QUEUE_ID/draw" > "$TMP/draw.json"
t1=$(date +%s%3N)
curl -sf "http://$B/v1/api/queues/$QUEUE_ID/draw" > "$TMP/draw-b.json"
t2=$(date +%s%3N)
echo "record: $(wc -c < "$TMP/draw.json") bytes, first GET ${t0:+$((t1 - t0))} ms on A, $((t2 - t1)) ms on B"
cmp -s "$TMP/draw.json" "$TMP/draw-b.json" && echo "the two servers publish the same record" || { echo "the servers' records differ" >&2; exit 1; }
/usr/bin/time -f "draw-verify: %e s, %M KiB" "$BIN/draw-verify" "$TMP/draw.json"
grep -h "pre-queue drawn" "$TMP"/*.log | sed 's/^/log: /' || true
