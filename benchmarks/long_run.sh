#!/usr/bin/env bash
# The long CPU training run of issue 9 in one command (resumable: run it again after any interruption).
#   1. pre-render SCENES fresh scenes (training seed 1; seed 0 was the previous model's) into data/synth_long,
#      skipping those already there (2,000 scenes: ~7 min on 2 cores);
#   2. stage 1, `small-synthetic-long`: camera + depth heads, conv patch embedding, 168 px wide (heights
#      112-168), 2-8 frames; 1,802 steps (it was stopped there: the camera head had collapsed to one pose);
#   3. stage 2, `small-synthetic-long-point`: + the point map, from stage 1's weights; 881 steps (stopped there:
#      no change in the cameras);
#   4. stage 3, `small-synthetic-long-heads`: all four heads from stage 2's weights (the track head fresh, tracks
#      from the engine's exact correspondences), heights 140-168, 72 minutes;
#   5. write the fp16 candidate runs/vggt-small-long-heads/vggt-small.safetensors and the learning curve of the
#      three stages end to end.
#
#   nohup benchmarks/long_run.sh > runs/long_run.log 2>&1 &
#
# Environment: SCENES (2000), WORKERS (render processes, all cores), PYTHON (python). Arguments are `openvggt
# train` overrides for both stages, e.g. max_minutes=60. Nothing else should run beside it (both cores).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENES=${SCENES:-2000}
WORKERS=${WORKERS:-$(nproc)}
PYTHON=${PYTHON:-python}
A=runs/vggt-small-long
P=runs/vggt-small-long-point
B=runs/vggt-small-long-heads
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p runs
say() { echo "[long_run] $(date -u +%FT%TZ) $*"; }
say "rendering $SCENES scenes with $WORKERS processes"
$PYTHON -m openvggt.cli synth data/synth_long --scenes "$SCENES" --frames 8 --seed 1 --size 168 --workers "$WORKERS"
say "stage 1: camera + depth (resumes from $A/checkpoints if present; a finished stage stops at once)"
$PYTHON -m openvggt.cli train small-synthetic-long "$@" --resume --no-progress
say "stage 2: + point map from $A/model.safetensors (resumes from $P/checkpoints if present)"
$PYTHON -m openvggt.cli train small-synthetic-long-point "$@" --resume --no-progress
say "stage 3: all four heads from $P/model.safetensors (resumes from $B/checkpoints if present)"
$PYTHON -m openvggt.cli train small-synthetic-long-heads "$@" --resume --no-progress
$PYTHON -m openvggt.cli convert "$B/model.safetensors" "$B/vggt-small.safetensors" --dtype fp16 --overwrite
$PYTHON benchmarks/plot_learning_curve.py "$A" "$P" "$B" --out "$B/learning_curve.png" || true
say "done: $B/vggt-small.safetensors"
