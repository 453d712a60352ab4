# lib.sh: what the side-by-side benchmark scripts share (sourced, not run).
#
# A script sets TMP (a scratch dir), QUEUE_ID, ADMIN_KEY, THREADS, CONNECTIONS,
# DURATION before calling these, and appends server pids to PIDS. Every run's
# WRKRESULT line is recorded as "round label rps p50 p99 ratio errors" in
# $TMP/rounds.txt so that print_table can report medians over rounds.

PIDS=()
WRK_PID=
RESULT=
wrk_pin=()

bench_cleanup() {
  if [[ -n ${WRK_PID:-} ]]; then kill "$WRK_PID" 2> /dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf "$TMP"
}

require_tools() {
  for tool in "$@"; do
    command -v "$tool" > /dev/null || { echo "$0: $tool not found (run bench/setup.sh)" >&2; exit 1; }
  done
}

port_busy() { curl -s -o /dev/null --max-time 1 "http://$1/" ; }

wait_http() { # addr name log
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 "http://$1/"; then return 0; fi
    sleep 0.1
  done
  echo "$0: $2 did not answer on $1; its log:" >&2
  cat "$3" >&2
  exit 1
}

# Creates queue $QUEUE_ID on a queue-server with admission slowed to a trickle
# (one a second, one active slot): everyone added stays waiting, so join and
# poll measure the waiting-room path, not admission.
put_trickle_queue() { # addr
  local status
  status=$(curl -s -o "$TMP/put.json" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
    -d '{"admissionRatePerSec":1,"maxActive":1,"sessionTtlSec":600}' \
    "http://$1/v1/api/queues/$QUEUE_ID")
  if [[ $status != 200 && $status != 201 ]]; then
    echo "$0: creating queue $QUEUE_ID on $1 returned HTTP $status: $(cat "$TMP/put.json")" >&2
    exit 1
  fi
}

# Runs wrk in the background and waits for it, so a TERM/INT interrupts the
# wait at once and cleanup can kill wrk too. Sets RESULT to the WRKRESULT line.
run_wrk() { # label script addr [extra env...]
  local label=$1 script=$2 addr=$3; shift 3
  env WRK_LABEL="$label" QUEUE_ID="$QUEUE_ID" ENTRY_IDS_FILE="$TMP/entry_ids.txt" "$@" \
    "${wrk_pin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "http://$addr" \
    > "$TMP/wrk.out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=
  if ! RESULT=$(grep '^WRKRESULT' "$TMP/wrk.out"); then
    echo "$0: wrk ($label) printed no result:" >&2
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

any_errors=0
# Records and prints one run of round $1 whose ratio is against ceiling rps $2.
record() { # round ceiling_rps wrkresult_line
  local r=$1 crps=$2 line=$3 label rps p50 p99 errs ratio
  label=$(field label <<< "$line"); rps=$(field rps <<< "$line")
  p50=$(field p50_us <<< "$line"); p99=$(field p99_us <<< "$line")
  errs=$(errors_of "$line")
  ratio=$(awk -v a="$rps" -v b="$crps" 'BEGIN { printf "%.3f", a / b }')
  echo "$r $label $rps $p50 $p99 $ratio $errs" >> "$TMP/rounds.txt"
  printf 'round %d  %-14s rps=%10.0f  p50=%6dus  p99=%6dus  ratio=%s  errors=%d\n' \
    "$r" "$label" "$rps" "$p50" "$p99" "$ratio" "$errs"
  if (( errs > 0 )); then any_errors=1; echo "  errors: $line"; fi
}

print_table() { # labels...
  echo
  echo "| run | req/s (median) | p50 µs | p99 µs | ratio to ceiling | errors (sum) |"
  echo "|---|---:|---:|---:|---:|---:|"
  local label
  for label in "$@"; do
    col() { awk -v l="$label" -v c="$1" '$2 == l { print $c }' "$TMP/rounds.txt"; }
    printf '| %s | %.0f | %.0f | %.0f | %.3f | %d |\n' "$label" \
      "$(col 3 | median)" "$(col 4 | median)" "$(col 5 | median)" "$(col 6 | median)" \
      "$(col 7 | awk '{ s += $1 } END { print s + 0 }')"
  done
}

# Median over rounds of (rps of label $1 / rps of label $2) in the same round.
median_ratio() { # label_a label_b
  awk -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 } END { for (r in x) if (y[r] > 0) print x[r] / y[r] }' \
    "$TMP/rounds.txt" | median
}
