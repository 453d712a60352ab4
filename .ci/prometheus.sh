#!/usr/bin/env bash
# Prints the path of Debian's promtool (or, with the argument `prometheus`, of the prometheus
# server), installing Debian's prometheus package first when it is missing (the tests that check
# deploy/prometheus call this, so that `cargo test --workspace` alone sets up a fresh machine). The
# package's own service is never started: nothing here needs a running Prometheus.
set -euo pipefail

case "${1:-promtool}" in
  promtool) tool=promtool ;;
  prometheus) tool=prometheus ;;
  *) echo "usage: prometheus.sh [promtool|prometheus]" >&2; exit 2 ;;
esac

find_tool() { command -v "$tool" 2>/dev/null || { [[ -x /usr/bin/$tool ]] && echo "/usr/bin/$tool"; }; }

if path=$(find_tool); then echo "$path"; exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "prometheus.sh: $tool is not installed and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
# Serialise concurrent test binaries that both find the package missing.
exec 9>/tmp/ticketon-prometheus-install.lock
flock 9
if path=$(find_tool); then echo "$path"; exit 0; fi
echo "prometheus.sh: installing Debian's prometheus" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package from starting its own service on port 9090.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=true
fi
trap '$created_policy && rm -f "$policy"' EXIT
apt-get update -qq >&2 || true
apt-get install -y -qq --no-install-recommends prometheus >&2
find_tool
