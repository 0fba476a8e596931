#!/usr/bin/env bash
# Set up, then run batch prediction with the shipped default model over the bundled example images.
set -euo pipefail
cd "$(dirname "$0")/.."
MASKHUB_SKIP_BROWSER=1 bash scripts/setup.sh
OUT="${1:-runs/demo}"
set +e
.venv/bin/python -m maskhub predict examples/images --model mobile --out "$OUT" --save-images --exist-ok
status=$?
set -e
echo "Results are in $(cd "$OUT" && pwd): predictions.csv, predictions.parquet, summary.json, errors.csv, images/"
exit $status
