#!/usr/bin/env bash
# The long CPU training run of issue 9 in one command (resumable: run it again after any interruption).
#   1. pre-render SCENES fresh scenes (training seed 1; seed 0 was the shipped model's) into data/synth_long,
#      skipping those already there;
#   2. train the small-synthetic-long preset (vggt-small, camera + depth + point + track heads, L1 x5 camera
#      loss) for 120 minutes of training time, continuing from the latest checkpoint in runs/vggt-small-long;
#   3. write the fp16 candidate weights runs/vggt-small-long/vggt-small.safetensors and the learning curve.
#
#   nohup benchmarks/long_run.sh > runs/long_run.log 2>&1 &
#
# Environment: SCENES (2000), WORKERS (render processes, all cores), PYTHON (python), and any extra
# `openvggt train` overrides as arguments, e.g. benchmarks/long_run.sh max_minutes=240.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENES=${SCENES:-2000}
WORKERS=${WORKERS:-$(nproc)}
PYTHON=${PYTHON:-python}
RUN=runs/vggt-small-long
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p runs
echo "[long_run] $(date -u +%FT%TZ) rendering $SCENES scenes with $WORKERS processes"
$PYTHON -m openvggt.cli synth data/synth_long --scenes "$SCENES" --frames 8 --seed 1 --size 168 --workers "$WORKERS"
echo "[long_run] $(date -u +%FT%TZ) training (resumes from $RUN/checkpoints if present)"
$PYTHON -m openvggt.cli train small-synthetic-long "$@" --resume --no-progress
$PYTHON -m openvggt.cli convert "$RUN/model.safetensors" "$RUN/vggt-small.safetensors" --dtype fp16 --overwrite
$PYTHON benchmarks/plot_learning_curve.py "$RUN" --out "$RUN/learning_curve.png" || true
echo "[long_run] $(date -u +%FT%TZ) done: $RUN/vggt-small.safetensors"
