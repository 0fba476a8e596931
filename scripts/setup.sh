#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: Python 3.10 venv in .venv with the pinned dependencies and
# maskhub installed editable. Re-runs are quick: it reinstalls only when requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  for candidate in python3.10 "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/"3.10*/bin/python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python310)" || { echo "setup: Python 3.10 not found on PATH or in pyenv (paddlelite wheels stop at cp310)" >&2; exit 1; }
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi

STAMP=.venv/.maskhub-requirements.sha256
WANT="$(cat requirements.txt requirements-base.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "setup: installing requirements (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$WANT" > "$STAMP"
fi

if [ "${MASKHUB_SKIP_BROWSER:-0}" != "1" ] && [ -x scripts/install_browser.sh ]; then
  bash scripts/install_browser.sh || echo "setup: headless Chromium could not be installed; browser tests will skip" >&2
fi
