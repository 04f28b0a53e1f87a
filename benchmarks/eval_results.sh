#!/usr/bin/env bash
# Regenerate docs/results/: accuracy of COLMAP and VGGT on the real and synthetic-test suites.
#
#   benchmarks/eval_results.sh                 # COLMAP on both suites (+ VGGT when weights exist)
#   WEIGHTS=path/to/model.safetensors benchmarks/eval_results.sh
#
# Writes docs/results/<suite>/<name>.{json,md} and docs/results/<suite>/<name>/eval.png, where
# <name> is "colmap" (COLMAP with the incremental and the global mapper) or "vggt-colmap" (VGGT too). The synthetic-test scenes are
# rendered once into $CACHE (default: a fresh folder under /tmp). Copy the tables into
# docs/results.md with the command, machine and date printed at the top of each .md file.
set -euo pipefail
cd "$(dirname "$0")/.."

OPENVGGT=${OPENVGGT:-.venv/bin/openvggt}
WEIGHTS=${WEIGHTS:-default}
CACHE=${CACHE:-/tmp/openvggt-synthetic-test}
REPEAT=${REPEAT:-3}  # COLMAP is not deterministic (threads, random seeds): keep the median of 3 runs
OUT=docs/results

have_weights() {
    [ "$WEIGHTS" != "default" ] || [ -n "$(ls src/openvggt/weights/*.safetensors 2>/dev/null)" ]
}

for suite in real synthetic-test; do
    mkdir -p "$OUT/$suite"
    if have_weights; then
        name=vggt-colmap
        methods=(--method vggt --weights "$WEIGHTS" --method colmap --method colmap-global)
    else
        echo "no VGGT weights (src/openvggt/weights/ is empty and WEIGHTS is unset): COLMAP only" >&2
        name=colmap
        methods=(--method colmap --method colmap-global)
    fi
    cache=()
    [ "$suite" = synthetic-test ] && cache=(--cache "$CACHE")
    "$OPENVGGT" eval --suite "$suite" "${cache[@]}" "${methods[@]}" --repeat "$REPEAT" \
        --json "$OUT/$suite/$name.json" --md "$OUT/$suite/$name.md" --plots "$OUT/$suite/$name"
done
