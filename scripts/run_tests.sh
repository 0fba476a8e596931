#!/usr/bin/env bash
# Set up, then run the test suite.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
if [ $status -eq 5 ]; then echo "run_tests: pytest collected no tests" >&2; exit 1; fi
exit $status
