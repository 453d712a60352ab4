#!/usr/bin/env bash
# Prints the path of a check-jsonschema executable, installing the PyPI package into a venv under
# the cache first when there is none (tests/deploy/compose.rs calls this, so that
# `cargo test --workspace` alone sets up a fresh machine). check-jsonschema carries the Compose
# Specification's JSON schema (`--builtin-schema vendor.compose-spec`), so validating
# deploy/docker/docker-compose.yml needs neither Docker nor the network once it is installed.
#
# Environment:
#   TICKETON_CACHE   cache dir (default ~/.cache/ticketon); the venv is $TICKETON_CACHE/venv
set -euo pipefail

# Pinned: the schema ships inside the package, so the version decides what "valid" means.
VERSION="0.39.0"
CACHE="${TICKETON_CACHE:-$HOME/.cache/ticketon}"
VENV="$CACHE/venv"
BIN="$VENV/bin/check-jsonschema"

log() { echo "check-jsonschema.sh: $*" >&2; }

installed() { [[ -x $BIN ]] && [[ "$("$BIN" --version 2>/dev/null)" == *" $VERSION" ]]; }

if installed; then echo "$BIN"; exit 0; fi
command -v python3 >/dev/null || { log "python3 is missing: cannot install check-jsonschema"; exit 1; }
mkdir -p "$CACHE"
# Serialise concurrent test binaries that both find it missing: one pip at a time into the venv.
exec 9>"$CACHE/.check-jsonschema-install.lock"
flock 9
if installed; then echo "$BIN"; exit 0; fi
log "installing check-jsonschema $VERSION into $VENV"
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV" >&2 \
  || { log "python3 -m venv failed (Debian's python3 needs python3-venv)"; exit 1; }
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "check-jsonschema==$VERSION" >&2 \
  || { log "pip install check-jsonschema==$VERSION failed"; exit 1; }
installed || { log "$BIN does not report version $VERSION after the install"; exit 1; }
echo "$BIN"
