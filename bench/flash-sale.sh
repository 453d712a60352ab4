#!/usr/bin/env bash
# flash-sale.sh: start a Ticketon, then run one whole flash sale through it with
# bench/flash-sale (target/release/flash-sale) and write its report.
#
#   bench/flash-sale.sh --stack embedded   [flash-sale flags...]
#   bench/flash-sale.sh --stack production [flash-sale flags...]
#
# embedded:   the README's one-process runner (`ticketon`: SQLite, the embedded Toss sandbox,
#             the in-process bus).
# production: two queue-servers on one Redis with AOF (`appendfsync everysec`, a redis-server of
#             the script's own), the reservation-api on MariaDB (a fresh database), Kafka (tansu,
#             .ci/tansu.sh) between them, and the reservation-api's Toss sandbox.
#
# Every flag after the stack goes to flash-sale (defaults: the issue's sale, 500,000 fans for
# 50,000 seats; `--fans 20000 --seats 2000` for a quick one). The report goes to REPORT_DIR
# (default bench/flash-sale-report/<stack>), with the logs of the system under test in logs/. Env: SKIP_BUILD [0], MYSQL_URL
# [mysql://root@127.0.0.1:3306], REDIS_PORT [6393], KAFKA_PORT [19093].
set -euo pipefail
cd "$(dirname "$0")/.."

[[ ${1:-} == --stack ]] || { echo "usage: $0 --stack embedded|production [flash-sale flags...]" >&2; exit 2; }
STACK=${2:?embedded or production}
shift 2
SKIP_BUILD=${SKIP_BUILD:-0}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306}
REDIS_PORT=${REDIS_PORT:-6393}
KAFKA_PORT=${KAFKA_PORT:-19093}
REPORT_DIR=${REPORT_DIR:-bench/flash-sale-report/$STACK}
BIN=${CARGO_TARGET_DIR:-target}/release
ADMIN_KEY=flash-sale-admin
TOKEN_SECRET=flash-sale-token-secret-of-32-bytes
QUEUE_A=127.0.0.1:18381
QUEUE_B=127.0.0.1:18382
RESERVATIONS=127.0.0.1:18380
SANDBOX=127.0.0.1:18390

source bench/lib.sh
require_tools curl

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p ticketon -p queue-server -p reservation-api
  cargo build --release -p ticketon-bench --bin flash-sale
fi

TMP=$(mktemp -d)
DB_NAME=
cleanup() {
  bench_cleanup
  if [[ $STACK == production ]]; then
    bash .ci/tansu.sh stop "$KAFKA_PORT" > /dev/null 2>&1 || true
    [[ -n $DB_NAME ]] && mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$DB_NAME\`" 2> /dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for addr in $QUEUE_A $QUEUE_B $RESERVATIONS $SANDBOX; do
  if port_busy "$addr"; then echo "$0: something already listens on $addr" >&2; exit 1; fi
done

PID_FLAGS=()
case $STACK in
  embedded)
    DATABASE_URL="sqlite://$TMP/reservations.db"
    TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=$TOKEN_SECRET RUST_LOG=${RUST_LOG:-warn} \
      TICKETON_QUEUE_LISTEN=$QUEUE_A TICKETON_RESERVATION_LISTEN=$RESERVATIONS \
      TICKETON_TOSS_SANDBOX_LISTEN=$SANDBOX TICKETON_DATABASE_URL=$DATABASE_URL \
      "$BIN/ticketon" > "$TMP/ticketon.log" 2>&1 &
    PIDS+=($!)
    PID_FLAGS+=(--pid "ticketon=$!")
    wait_http "$QUEUE_A" "queue-server" "$TMP/ticketon.log"
    wait_http "$RESERVATIONS" "reservation-api" "$TMP/ticketon.log"
    QUEUE_FLAGS=(--queue-url "http://$QUEUE_A")
    ;;
  production)
    require_tools redis-server mysql
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
      --appendfsync everysec --dir "$TMP" > "$TMP/redis.log" 2>&1 &
    PIDS+=($!)
    PID_FLAGS+=(--pid "redis=$!")
    bash .ci/tansu.sh install > /dev/null
    bash .ci/tansu.sh start "$KAFKA_PORT" > /dev/null
    DB_NAME="ticketon_flash_$(date +%s)"
    mysql -h127.0.0.1 -uroot -e "CREATE DATABASE \`$DB_NAME\`"
    DATABASE_URL="$MYSQL_URL/$DB_NAME"
    common=(TICKETON_ADMIN_KEY=$ADMIN_KEY TICKETON_TOKEN_SECRET=$TOKEN_SECRET
            TICKETON_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT TICKETON_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
            TICKETON_REDIS_PREFIX=flash RUST_LOG=${RUST_LOG:-warn})
    for addr in $QUEUE_A $QUEUE_B; do
      env "${common[@]}" TICKETON_QUEUE_LISTEN=$addr "$BIN/queue-server" > "$TMP/queue-$addr.log" 2>&1 &
      PIDS+=($!)
      PID_FLAGS+=(--pid "queue-server-${addr##*:}=$!")
    done
    env "${common[@]}" TICKETON_RESERVATION_LISTEN=$RESERVATIONS TICKETON_DATABASE_URL=$DATABASE_URL \
      TICKETON_TOSS_SANDBOX_LISTEN=$SANDBOX "$BIN/reservation-api" > "$TMP/reservation.log" 2>&1 &
    PIDS+=($!)
    PID_FLAGS+=(--pid "reservation-api=$!")
    wait_http "$QUEUE_A" "queue-server A" "$TMP/queue-$QUEUE_A.log"
    wait_http "$QUEUE_B" "queue-server B" "$TMP/queue-$QUEUE_B.log"
    wait_http "$RESERVATIONS" "reservation-api" "$TMP/reservation.log"
    QUEUE_FLAGS=(--queue-url "http://$QUEUE_A" --queue-url "http://$QUEUE_B")
    ;;
  *) echo "$0: --stack embedded or production" >&2; exit 2 ;;
esac

mkdir -p "$REPORT_DIR"
status=0
"$BIN/flash-sale" "${QUEUE_FLAGS[@]}" --reservation-url "http://$RESERVATIONS" \
  --sandbox-url "http://$SANDBOX" --admin-key "$ADMIN_KEY" --database-url "$DATABASE_URL" \
  "${PID_FLAGS[@]}" --report "$REPORT_DIR" "$@" || status=$?
# The system's own logs go beside the report (the scratch directory is removed on exit): a failed
# check or a 5xx is read there.
mkdir -p "$REPORT_DIR/logs"
cp "$TMP"/*.log "$REPORT_DIR/logs/" 2> /dev/null || true
echo "report: $REPORT_DIR/report.md (logs of the system under test: $REPORT_DIR/logs/)"
exit $status
