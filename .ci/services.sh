#!/usr/bin/env bash
# Makes sure the real services the tests talk to are up: Redis on 6379 and MariaDB on 3306 (these
# machines install and start both; this only restarts one that has stopped), and that a tansu
# broker binary is installed (the tests start their own brokers from it).
#
# Under CI=true a service that cannot be brought up fails the run here, with a clear message,
# instead of letting its tests skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

required=false
[[ "${CI:-}" == "true" || "${TICKETON_REQUIRE_SERVICES:-}" == "1" ]] && required=true

log() { echo "services.sh: $*" >&2; }
missing() {
  if $required; then log "FAILED: $1 (CI=true requires it)"; exit 1; fi
  log "WARNING: $1; its tests will be skipped"
}

wait_for() { # name, probe command...
  local name=$1; shift
  for _ in $(seq 1 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }
if ! redis_up 2>/dev/null; then
  log "Redis is not answering on 127.0.0.1:6379; starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  wait_for Redis redis_up || missing "Redis on 127.0.0.1:6379 is down"
fi

mariadb_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping; }
if ! mariadb_up >/dev/null 2>&1; then
  log "MariaDB is not answering on 127.0.0.1:3306; starting it"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
  wait_for MariaDB mariadb_up || missing "MariaDB on 127.0.0.1:3306 is down"
fi

if ! bash .ci/tansu.sh install >/dev/null; then
  missing "no tansu broker could be installed"
fi
log "services ready"
