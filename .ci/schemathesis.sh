#!/usr/bin/env bash
# Prints the path of a schemathesis (`st`) executable, installing the PyPI package into a venv under
# the cache first when there is none at the pinned version (the OpenAPI test calls this, so that
# `cargo test --workspace` alone sets up a fresh machine). schemathesis runs the OpenAPI
# descriptions in proto-notes/openapi/ against live services: zero 5xx answers, zero answers that
# break the description.
#
# How it is run (one command per service; SPEC, BASE_URL and ADMIN_KEY are the arguments, the
# admin key is the one the services were started with; REPO is the repository's absolute path,
# which the hooks path must be, or relative to the working directory):
#
#   SCHEMATHESIS_HOOKS="$REPO/proto-notes/openapi/schemathesis_hooks.py" \
#   "$(bash .ci/schemathesis.sh)" --config-file "$REPO/proto-notes/openapi/schemathesis.toml" \
#     run "$SPEC" --url "$BASE_URL" -H "Authorization: Bearer $ADMIN_KEY" \
#     --checks all --max-examples 50 --seed 1 --workers 1 --request-timeout 10 \
#     --generation-database none --no-color
#
# Run it in a scratch working directory (Hypothesis writes ./.hypothesis). The run is destructive
# (the admin key lets it create, pause, close and delete queues and create events): point it at
# services of its own, never at a shared one.
#
# Environment:
#   TICKETON_CACHE   cache dir (default ~/.cache/ticketon); the venv is $TICKETON_CACHE/schemathesis
set -euo pipefail

# Pinned: the checks, their defaults and the data generation change between releases, so the
# version decides what "conforms" means. Checked with proto-notes/openapi/*.yaml against both
# services (Python 3.11).
VERSION="4.32.5"
PYTHON_MIN="3.10" # schemathesis 4.x: Python >= 3.10
CACHE="${TICKETON_CACHE:-$HOME/.cache/ticketon}"
VENV="$CACHE/schemathesis"
BIN="$VENV/bin/st"

log() { echo "schemathesis.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

installed() { [[ -x $BIN ]] && [[ "$("$BIN" --version 2>/dev/null)" == *" $VERSION" ]]; }

if installed; then echo "$BIN"; exit 0; fi
command -v python3 >/dev/null || fail "python3 is missing: cannot install schemathesis"
python3 -c "import sys; sys.exit(0 if sys.version_info >= tuple(map(int, '$PYTHON_MIN'.split('.'))) else 1)" \
  || fail "python3 $(python3 -c 'import platform; print(platform.python_version())') is too old: schemathesis $VERSION needs Python >= $PYTHON_MIN"
mkdir -p "$CACHE"
# Serialise concurrent test binaries that both find it missing: one pip at a time into the venv.
exec 9>"$CACHE/.schemathesis-install.lock"
flock 9
if installed; then echo "$BIN"; exit 0; fi
log "installing schemathesis $VERSION into $VENV"
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV" >&2 \
  || fail "python3 -m venv failed (Debian's python3 needs python3-venv)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2 \
  || fail "pip install schemathesis==$VERSION into $VENV failed (is PyPI reachable?)"
installed || fail "$BIN does not report version $VERSION after the install"
echo "$BIN"
