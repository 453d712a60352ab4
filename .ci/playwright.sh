#!/usr/bin/env bash
# Prints two lines: the path of Debian's chromium, then a node_modules directory holding
# playwright-core and axe-core at the pinned versions. Installs what is missing first: chromium
# through debian-tool.sh, the two npm packages into $TICKETON_CACHE/node (tests/pages/main.rs
# calls this, so that `cargo test --workspace` alone sets up a fresh machine). Playwright never
# downloads a browser here (machines cannot): the tests launch this chromium by its path.
#
# Environment:
#   TICKETON_CACHE   cache dir (default ~/.cache/ticketon); the packages go into $TICKETON_CACHE/node
set -euo pipefail

# Pinned: checked against Debian's chromium 156 (a launch with the flags tests/pages uses, a page,
# a screenshot, an axe-core run). playwright-core drives chromium over CDP, whose protocol moves
# with the browser: upgrade both together and re-check.
PLAYWRIGHT_VERSION="1.65.2"
AXE_VERSION="4.14.1"
NODE_MAJOR_MIN=20 # playwright-core's engines: node >= 20

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${TICKETON_CACHE:-$HOME/.cache/ticketon}"
DIR="$CACHE/node"
MODULES="$DIR/node_modules"

log() { echo "playwright.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# Chromium: Debian's package (prints its path; installs it when missing, as root with apt-get).
chromium=$(bash "$HERE/debian-tool.sh" chromium chromium) \
  || fail "Debian's chromium is not installed and could not be installed (see above)"
[[ -x $chromium ]] || fail "chromium at '$chromium' is not executable"
"$chromium" --version >/dev/null 2>&1 \
  || fail "'$chromium --version' failed: the chromium package is broken"

# Korean glyphs for the screenshots (the pages default to Korean): best effort, never fatal,
# since the checks themselves read the DOM, not pixels.
if command -v fc-list >/dev/null && [[ -z $(fc-list :lang=ko 2>/dev/null) ]] \
  && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  exec 8>"/tmp/ticketon-fonts-nanum-install.lock"
  flock 8
  if [[ -z $(fc-list :lang=ko 2>/dev/null) ]]; then
    log "installing Debian's fonts-nanum (Korean text in the screenshots)"
    install_fonts() {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-nanum >&2
    }
    install_fonts || { apt-get update -qq >&2 && install_fonts; } \
      || log "fonts-nanum could not be installed: Korean text will show as boxes in screenshots"
  fi
  exec 8>&-
fi

# Node.js and npm: the machine's own (Debian's nodejs package on this kind of machine).
command -v node >/dev/null || fail "node is missing: install Node.js $NODE_MAJOR_MIN or newer"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= NODE_MAJOR_MIN)) \
  || fail "node $(node --version) is too old: playwright-core $PLAYWRIGHT_VERSION needs Node.js >= $NODE_MAJOR_MIN"

version_of() { # the installed version of npm package $1, or nothing
  node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch {}' \
    "$MODULES/$1/package.json" 2>/dev/null || true
}
installed() {
  [[ $(version_of playwright-core) == "$PLAYWRIGHT_VERSION" ]] \
    && [[ $(version_of axe-core) == "$AXE_VERSION" ]] \
    && [[ -f $MODULES/axe-core/axe.min.js ]]
}

done_() { echo "$chromium"; echo "$MODULES"; exit 0; }

if installed; then done_; fi
command -v npm >/dev/null || fail "npm is missing: cannot install playwright-core and axe-core"
mkdir -p "$DIR"
# Serialise concurrent test binaries that both find them missing: one npm at a time in $DIR.
exec 9>"$CACHE/.playwright-install.lock"
flock 9
if installed; then done_; fi
log "installing playwright-core $PLAYWRIGHT_VERSION and axe-core $AXE_VERSION into $DIR"
cat >"$DIR/package.json" <<EOF
{
  "name": "ticketon-page-tests",
  "private": true,
  "description": "Written by .ci/playwright.sh: what tests/pages drives chromium with.",
  "dependencies": {
    "playwright-core": "$PLAYWRIGHT_VERSION",
    "axe-core": "$AXE_VERSION"
  }
}
EOF
# No install scripts: neither package needs one, and no browser is ever downloaded.
(cd "$DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund \
  --ignore-scripts --loglevel=error >&2) \
  || fail "npm install of playwright-core@$PLAYWRIGHT_VERSION and axe-core@$AXE_VERSION in $DIR failed"
installed || fail "$MODULES does not hold playwright-core $PLAYWRIGHT_VERSION and axe-core $AXE_VERSION after the install"
done_
