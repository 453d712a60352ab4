#!/usr/bin/env bash
# setup.sh: install the benchmark tools on a Debian/Ubuntu machine, idempotently.
#
# Why a script: bench/queue.sh needs wrk (load generator, LuaJIT scripting),
# curl (readiness checks, admin call), python3 (bench/prejoin.py) and taskset
# (util-linux, for PIN=1); hyperfine is used for command-level timings. Only
# missing packages are installed, and the package index is refreshed only when
# something is missing, so running this twice is cheap and changes nothing.
set -euo pipefail

# command -> Debian package
declare -A PKG=(
  [wrk]=wrk
  [hyperfine]=hyperfine
  [curl]=curl
  [python3]=python3
  [taskset]=util-linux
)

missing=()
for cmd in "${!PKG[@]}"; do
  command -v "$cmd" > /dev/null 2>&1 || missing+=("${PKG[$cmd]}")
done

if ((${#missing[@]} == 0)); then
  echo "setup.sh: all tools present: ${!PKG[*]}"
  exit 0
fi

SUDO=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo > /dev/null || { echo "setup.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "setup.sh: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
