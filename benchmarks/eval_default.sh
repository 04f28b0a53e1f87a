#!/usr/bin/env bash
# Measure a candidate default model the way issue 9 asks, through `openvggt reconstruct`'s code path:
#   1. held-out synthetic: the synthetic-test suite (seed 1,000,000, never trained on), 8 scenes x 8 frames (the
#      scenes of the COLMAP table in docs/results.md) and WIDE scenes (32) for a tighter mean;
#   2. the real scenes of ../shared/scenes (never trained on), without and with --ba;
# results as JSON + markdown (+ plots) under OUT/{synthetic-test,real}/NAME*.
#
#   benchmarks/eval_default.sh WEIGHTS NAME [OUT]      e.g. benchmarks/eval_default.sh default vggt-small docs/results
#
# Environment: WIDE (32; 0 skips it), CACHE (where the test scenes are rendered once), PYTHON (python). Run it alone on the machine if you read the times.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:?weights (file, folder, hub id or default)}
NAME=${2:?a name for the result files}
OUT=${3:-docs/results}
WIDE=${WIDE:-32}
CACHE=${CACHE:-/tmp/openvggt-synthetic-test}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT/synthetic-test" "$OUT/real"
$PYTHON -m openvggt.cli eval --suite synthetic-test --cache "$CACHE" --method vggt --weights "$W" --device cpu \
  --json "$OUT/synthetic-test/$NAME.json" --md "$OUT/synthetic-test/$NAME.md" --plots "$OUT/synthetic-test/$NAME"
if [ "$WIDE" -gt 0 ]; then
  $PYTHON -m openvggt.cli eval --suite synthetic-test --cache "$CACHE" --synthetic-scenes "$WIDE" --method vggt \
    --weights "$W" --device cpu --json "$OUT/synthetic-test/$NAME-$WIDE.json" --md "$OUT/synthetic-test/$NAME-$WIDE.md"
fi
$PYTHON -m openvggt.cli eval --suite real --method vggt --weights "$W" --device cpu \
  --json "$OUT/real/$NAME.json" --md "$OUT/real/$NAME.md" --plots "$OUT/real/$NAME"
$PYTHON -m openvggt.cli eval --suite real --method vggt --ba --weights "$W" --device cpu \
  --json "$OUT/real/$NAME-ba.json" --md "$OUT/real/$NAME-ba.md" --plots "$OUT/real/$NAME-ba"
