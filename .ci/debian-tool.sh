#!/usr/bin/env bash
# Prints the path of a tool from a Debian package, installing the package first when the tool is
# missing. The tests that drive a real tool call this through .ci/nginx.sh and .ci/prometheus.sh,
# so that `cargo test --workspace` alone sets up a fresh machine. The package's own service is
# never started: the tests run the tool themselves, on their own ports and files.
#
#   .ci/debian-tool.sh TOOL PACKAGE
set -euo pipefail

tool=${1:?usage: debian-tool.sh TOOL PACKAGE}
package=${2:?usage: debian-tool.sh TOOL PACKAGE}

find_tool() {
  command -v "$tool" 2>/dev/null && return 0
  local dir
  for dir in /usr/sbin /usr/bin; do
    [[ -x $dir/$tool ]] && { echo "$dir/$tool"; return 0; }
  done
  return 1
}

if path=$(find_tool); then echo "$path"; exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "debian-tool.sh: $tool is not installed and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
# Serialise concurrent test binaries that both find the package missing.
exec 9>"/tmp/ticketon-$package-install.lock"
flock 9
if path=$(find_tool); then echo "$path"; exit 0; fi
echo "debian-tool.sh: installing Debian's $package" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package from starting its own service (nginx on 80, prometheus on 9090).
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=true
fi
trap '$created_policy && rm -f "$policy"' EXIT
apt-get update -qq >&2 || true
apt-get install -y -qq --no-install-recommends "$package" >&2
find_tool
