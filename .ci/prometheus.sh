#!/usr/bin/env bash
# Prints the path of Debian's promtool (or, with the argument `prometheus`, of the prometheus
# server), installing Debian's prometheus package first when it is missing (see debian-tool.sh).
# The tests that check deploy/prometheus and scrape the services with a real Prometheus call this.
set -euo pipefail

case "${1:-promtool}" in
  promtool | prometheus) tool=${1:-promtool} ;;
  *) echo "usage: prometheus.sh [promtool|prometheus]" >&2; exit 2 ;;
esac
exec bash "$(dirname "${BASH_SOURCE[0]}")/debian-tool.sh" "$tool" prometheus
