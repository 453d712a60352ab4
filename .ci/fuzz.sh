#!/usr/bin/env bash
# Prints the path of a cargo-fuzz executable, installing the pinned version under the cache first
# when there is none (the fuzz test calls this, so that `cargo test --workspace` alone sets up a
# fresh machine). The targets in fuzz/ are built with the nightly toolchain (libFuzzer's coverage
# instrumentation needs it), which rustup has here; a machine without it cannot fuzz. They run with
# `--sanitizer none`: the services link C libraries (librdkafka, zstd) whose own build scripts fail
# once the address sanitizer instruments their objects, and the code under test is safe Rust.
#
# How the targets are run (what tests/fuzz.rs does, a few seconds each; longer for the figures in
# bench/RESULTS.md, "Fuzzing"):
#
#   RUSTUP_TOOLCHAIN=nightly "$(bash .ci/fuzz.sh)" fuzz run --fuzz-dir fuzz --sanitizer none \
#     --target-dir ~/.cache/ticketon/fuzz-target queue_routing -- -max_total_time=60
#
# Environment:
#   TICKETON_CACHE   cache dir (default ~/.cache/ticketon); cargo-fuzz goes under $TICKETON_CACHE/cargo-fuzz
set -euo pipefail

VERSION="0.13.2"
CACHE="${TICKETON_CACHE:-$HOME/.cache/ticketon}"
ROOT="$CACHE/cargo-fuzz"
BIN="$ROOT/bin/cargo-fuzz"

log() { echo "fuzz.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

command -v rustup > /dev/null || fail "rustup is not on PATH: the fuzz targets need its nightly toolchain"
rustup toolchain list | grep -q '^nightly' || fail "no nightly toolchain (rustup toolchain list): libFuzzer needs one"

installed() { [[ -x $BIN ]] && [[ "$("$BIN" --version 2>/dev/null)" == *" $VERSION" ]]; }

if ! installed; then
  log "installing cargo-fuzz $VERSION into $ROOT"
  cargo install cargo-fuzz --version "$VERSION" --locked --root "$ROOT" >&2 || fail "cargo install cargo-fuzz failed"
  installed || fail "cargo-fuzz $VERSION did not install"
fi
echo "$BIN"
