#!/usr/bin/env bash
# aof-cost.sh: what Redis's `appendfsync always` costs joins against `everysec` (issue 17), the
# queue-server's Redis tier alone (bench/src/redis_joins.rs: RedisStore::join in-process, no HTTP).
# Two redis-servers of the script's own with AOF on, one per policy, each on its own scratch
# directory; every round runs redis-joins once against each, back to back, alternating which goes
# first, and the report gives the medians and the median of the same-round ratios.
#
#   bench/aof-cost.sh   # env: ROUNDS [5] SECONDS_PER_MODE [5] TASKS [256] SKIP_BUILD [0]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECONDS_PER_MODE=${SECONDS_PER_MODE:-5}
TASKS=${TASKS:-256}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools redis-server redis-cli

[[ $SKIP_BUILD == 1 ]] || cargo build --release -p ticketon-bench --bin redis-joins

TMP=$(mktemp -d)
cleanup() { bench_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A PORT=([everysec]=6394 [always]=6395)
for policy in everysec always; do
  mkdir -p "$TMP/$policy"
  redis-server --port "${PORT[$policy]}" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync "$policy" --dir "$TMP/$policy" > "$TMP/$policy.log" 2>&1 &
  PIDS+=($!)
done
for policy in everysec always; do
  until redis-cli -p "${PORT[$policy]}" ping > /dev/null 2>&1; do sleep 0.1; done
done

# One line per (round, policy, mode): joins/s.
: > "$TMP/figures"
for round in $(seq 1 "$ROUNDS"); do
  order=(everysec always)
  (( round % 2 == 0 )) && order=(always everysec)
  for policy in "${order[@]}"; do
    "$BIN/redis-joins" --redis-url "redis://127.0.0.1:${PORT[$policy]}" --rounds 1 \
      --seconds "$SECONDS_PER_MODE" --tasks "$TASKS" \
      | awk -v r="$round" -v p="$policy" '/^round/ { print r, p, $3, $5 }' \
      | tee -a "$TMP/figures"
  done
done

python3 - "$TMP/figures" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, policy, mode, jps in rows:
    by.setdefault((mode, policy), {})[r] = float(jps)
print("\n| join mode | everysec joins/s (median) | always joins/s (median) | always / everysec (median of same-round ratios) |")
print("|---|---:|---:|---:|")
for mode in ["Batched", "Pipelined", "Pooled"]:
    e, a = by[(mode, "everysec")], by[(mode, "always")]
    ratio = statistics.median(a[r] / e[r] for r in e)
    print(f"| {mode.lower()} | {statistics.median(e.values()):,.0f} | {statistics.median(a.values()):,.0f} | {ratio:.3f} |")
PY
