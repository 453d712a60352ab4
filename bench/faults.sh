#!/usr/bin/env bash
# faults.sh: each fault of issue 17 struck during a flash sale of its own on the production layout
# (two queue-servers on a Redis with AOF, the reservation-api on MariaDB, tansu, the Toss sandbox
# in a process of its own), then the fault table: requests refused, time to recover, joins lost,
# double bookings, money mismatches, admissions never announced. Exits non-zero when a run
# breaks an invariant.
#
#   bench/faults.sh                                   # every fault, the Redis crash under both fsyncs
#   bench/faults.sh --fault freeze-kafka --fans 5000  # one fault, a smaller sale
#
# Flags go to the `faults` binary (bench/src/faults_main.rs; `--help` lists them). The MariaDB
# restart restarts this machine's MariaDB (as .ci/services.sh starts it). The table goes to
# bench/faults-report/faults.md, each sale's report beside it. Env: SKIP_BUILD [0].
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_BUILD=${SKIP_BUILD:-0}
BIN=${CARGO_TARGET_DIR:-target}/release

source bench/lib.sh
require_tools redis-server mysqladmin start-stop-daemon

if [[ $SKIP_BUILD != 1 ]]; then
  cargo build --release -p queue-server -p reservation-api --bin queue-server --bin reservation-api \
    --bin toss-sandbox
  cargo build --release -p ticketon-bench --bin faults
fi
exec "$BIN/faults" --bin-dir "$BIN" --repo . "$@"
