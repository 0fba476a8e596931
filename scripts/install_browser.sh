#!/usr/bin/env bash
# Headless Chromium + chromedriver for the dashboard's browser test (tests/test_dashboard_browser.py).
# Idempotent: does nothing when both are already installed. Needs root (or sudo) and apt (Debian/Ubuntu).
set -euo pipefail

have_browser() {
    command -v chromedriver >/dev/null 2>&1 &&
        { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
}

if have_browser; then
    echo "install_browser: $(command -v chromium || command -v chromium-browser) and $(command -v chromedriver) already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: apt-get not found; install Chromium and chromedriver with this system's package manager" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_browser: run as root (or install sudo)" >&2; exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian ships chromium + chromium-driver; Ubuntu's chromium-browser is a snap shim, so prefer Debian names
if apt-cache show chromium-driver >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
else
    $SUDO apt-get install -y -qq --no-install-recommends chromium-browser chromium-chromedriver
fi

have_browser || { echo "install_browser: installation finished but chromium/chromedriver are not on PATH" >&2; exit 1; }
echo "install_browser: installed $(chromium --version 2>/dev/null || chromium-browser --version)"
