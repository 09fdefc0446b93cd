#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/e2e) when it is missing.
# Playwright drives this system browser: its own browser download cannot work offline.
# Never fails the build: without chromium the browser tests skip and say why.
set -u
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: no apt-get here; install chromium yourself to run tests/e2e" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_browser.sh: not root and no sudo; tests/e2e will skip" >&2
        exit 0
    fi
fi
echo "install_browser.sh: installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || echo "install_browser.sh: apt-get install chromium failed; tests/e2e will skip" >&2
exit 0
