#!/usr/bin/env bash
# The reservation-api's in-process benchmarks (`payments`, `seat-holds`) from two builds side by
# side, in alternating order per round, so that both see the same machine. Prints every run and
# the median of the new/old ratios of the same round.
#
#   bench/resv-ab.sh OLD_DIR NEW_DIR      # each holds `payments` and `seat-holds` binaries
#   ROUNDS=5 SECONDS_PER_RUN=5 bench/resv-ab.sh /tmp/bench-old /tmp/bench-new
#   BENCHES=payments ROUNDS=9 bench/resv-ab.sh /tmp/bench-old /tmp/bench-new   # one of the two
set -euo pipefail
old=${1:?old binaries directory}
new=${2:?new binaries directory}
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_RUN:-5}
benches=${BENCHES:-payments seat-holds}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # side round
  local dir=$1 side=$2 round=$3
  if [[ " $benches " == *" payments "* ]]; then
    "$dir/payments" --runs 1 --seconds "$seconds" 2>/dev/null | tail -1 >"$out/payments-$side-$round"
  fi
  if [[ " $benches " == *" seat-holds "* ]]; then
    "$dir/seat-holds" --runs 1 --seconds "$seconds" 2>/dev/null >"$out/holds-$side-$round"
  fi
}

for round in $(seq 1 "$rounds"); do
  if (( round % 2 )); then run "$old" old "$round"; run "$new" new "$round"
  else run "$new" new "$round"; run "$old" old "$round"; fi
  echo "round $round done" >&2
done

python3 - "$out" "$rounds" <<'PY'
import sys, statistics, re
out, rounds = sys.argv[1], int(sys.argv[2])
def payments(side, r):
    cells = open(f"{out}/payments-{side}-{r}").read().strip().strip('|').split('|')
    return float(cells[0]), float(cells[1]), float(cells[2])
def holds(side, r):
    rows, scenario = {}, None
    for line in open(f"{out}/holds-{side}-{r}"):
        if line.startswith('### '):
            scenario = 'low' if 'low' in line else 'high'
        m = re.match(r'\| (pessimistic|optimistic|distributed) \| (\d+)', line)
        if m:
            rows[(scenario, m.group(1))] = float(m.group(2))
    return rows
print("| figure | old (median) | new (median) | new/old (median of same-round ratios) | per-round ratios |")
print("|---|---:|---:|---:|---|")
def line(name, olds, news):
    ratios = [n / o for o, n in zip(olds, news)]
    print(f"| {name} | {statistics.median(olds):.0f} | {statistics.median(news):.0f} | "
          f"{statistics.median(ratios):.3f} | {', '.join(f'{x:.2f}' for x in ratios)} |")
import os
rs = range(1, rounds + 1)
have_payments = os.path.exists(f"{out}/payments-old-1")
have_holds = os.path.exists(f"{out}/holds-old-1")
if have_payments:
  line("payments: purchases/s", [payments('old', r)[0] for r in rs], [payments('new', r)[0] for r in rs])
if have_payments:
  p50o = [payments('old', r)[1] for r in rs]; p50n = [payments('new', r)[1] for r in rs]
  print(f"| payments: pay() p50 ms | {statistics.median(p50o):.2f} | {statistics.median(p50n):.2f} | "
      f"{statistics.median([n/o for o, n in zip(p50o, p50n)]):.3f} | |")
  p99o = [payments('old', r)[2] for r in rs]; p99n = [payments('new', r)[2] for r in rs]
  print(f"| payments: pay() p99 ms | {statistics.median(p99o):.2f} | {statistics.median(p99n):.2f} | "
      f"{statistics.median([n/o for o, n in zip(p99o, p99n)]):.3f} | |")
for scenario in (('low', 'high') if have_holds else ()):
    for strategy in ('pessimistic', 'optimistic', 'distributed'):
        line(f"seat-holds {scenario}: {strategy} holds/s",
             [holds('old', r)[(scenario, strategy)] for r in rs],
             [holds('new', r)[(scenario, strategy)] for r in rs])
PY
