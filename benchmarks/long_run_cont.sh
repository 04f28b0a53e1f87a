#!/usr/bin/env bash
# Stage 4 of issue 9's CPU training (docs/model_card.md): the shipped weights trained on for 70 minutes on fresh
# scenes (resumable: run it again after any interruption).
#   1. render SCENES (2,048) fresh scenes of seed 3 (no earlier stage saw it) into data/synth_long3 (~18 min on 2 cores);
#   2. `small-synthetic-long-cont`: all four heads from the shipped weights (init=default), fresh AdamW, 2 % warm-up;
#   3. write the fp16 candidate runs/vggt-small-long-cont/vggt-small.safetensors and its learning curve.
#
#   setsid nohup benchmarks/long_run_cont.sh > runs/long_run_cont.log 2>&1 < /dev/null &
#
# Environment: SCENES (2048), WORKERS (render processes, all cores), PYTHON (python). Arguments are `openvggt
# train` overrides, e.g. max_minutes=60. Nothing else should run beside it (both cores).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENES=${SCENES:-2048}
WORKERS=${WORKERS:-$(nproc)}
PYTHON=${PYTHON:-python}
C=runs/vggt-small-long-cont
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p runs
say() { echo "[long_run_cont] $(date -u +%FT%TZ) $*"; }
say "rendering $SCENES scenes of seed 3 with $WORKERS processes"
$PYTHON -m openvggt.cli synth data/synth_long3 --scenes "$SCENES" --frames 8 --seed 3 --size 168 --workers "$WORKERS"
say "stage 4: all four heads from the shipped weights (resumes from $C/checkpoints if present)"
$PYTHON -m openvggt.cli train small-synthetic-long-cont "$@" --resume --no-progress
$PYTHON -m openvggt.cli convert "$C/model.safetensors" "$C/vggt-small.safetensors" --dtype fp16 --overwrite
$PYTHON benchmarks/plot_learning_curve.py "$C" --out "$C/learning_curve.png" || true
say "done: $C/vggt-small.safetensors"
