#!/usr/bin/env bash
# Prints the path of an nginx binary, installing Debian's nginx first when there is none (the tests
# that put a real nginx in front of the services call this, so that `cargo test --workspace` alone
# sets up a fresh machine). The package's own service is never started: the tests run nginx
# themselves, on their own ports, with their own configuration.
set -euo pipefail

find_nginx() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }; }

if path=$(find_nginx); then echo "$path"; exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "nginx.sh: nginx is not installed and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
# Serialise concurrent test binaries that both find nginx missing.
exec 9>/tmp/ticketon-nginx-install.lock
flock 9
if path=$(find_nginx); then echo "$path"; exit 0; fi
echo "nginx.sh: installing Debian's nginx" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package from starting its own service on port 80.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=true
fi
trap '$created_policy && rm -f "$policy"' EXIT
apt-get update -qq >&2 || true
apt-get install -y -qq --no-install-recommends nginx >&2
find_nginx
