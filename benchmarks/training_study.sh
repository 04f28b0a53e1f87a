#!/usr/bin/env bash
# Equal-compute training comparisons (issue 9): each run trains MINUTES of wall time from scratch on the same
# pre-rendered fresh scenes and logs held-out AUC@30 / RRA / RTA / AbsRel against frames seen to OUT/<run>.jsonl;
# then one plot and one table of all runs. Needs the machine to itself for meaningful timings.
#
#   benchmarks/training_study.sh                          # all runs, 15 min each (~3 h with evaluation)
#   MINUTES=1 VAL=2 benchmarks/training_study.sh          # a quick check that every run starts and logs
#   ONLY=base,huber,transnorm MINUTES=15 benchmarks/training_study.sh
#
# Environment: MINUTES (15), THREADS (torch threads, 2), VAL (held-out scenes, 8), EVAL_S (seconds of training
# between evaluations, MINUTES*60/6), OUT (runs/study), DATA (data/synth_study), SCENES (400), WORKERS (render
# processes, 2), PYTHON (python), ONLY (comma-separated run names).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-15}
THREADS=${THREADS:-2}
VAL=${VAL:-8}
OUT=${OUT:-runs/study}
DATA=${DATA:-data/synth_study}
SCENES=${SCENES:-400}
WORKERS=${WORKERS:-2}
PYTHON=${PYTHON:-python}
ONLY=${ONLY:-}
EVAL_S=${EVAL_S:-$($PYTHON -c "print(max(5.0, $MINUTES * 60 / 6))")}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=$THREADS

# Fresh scenes of their own training seed (3): never the shipped model's (0), the long run's (1) or the GPU run's (2).
$PYTHON -m openvggt.cli synth "$DATA" --scenes "$SCENES" --frames 8 --seed 3 --size 168 --workers "$WORKERS"

# The base: small-synthetic-long (L1 x5 camera loss, 168 px, heights 140-168, 2-8 frames, 16 frames a batch) with
# the camera and depth heads only and the plain (not baseline-normalised) translation residual; every other run
# changes one thing.
BASE=(data.root="$DATA" data.val_scenes="$VAL" data.track_num=0 loss.point=false loss.trans_norm=none)
declare -A RUNS=(
  [base]=""
  [huber]="loss.camera_loss_type=huber loss.camera_weight=1.0"
  [transnorm]="loss.trans_norm=baseline"
  [camonly]="loss.depth=false"
  [point]="loss.point=true"
  [point_track]="loss.point=true data.track_num=64"
  [frames2]="data.min_frames=2 data.max_frames=2"
  [px112]="data.image_size=112 data.min_height=112"
  [narrow]="model.embed_dim=192 model.num_heads=4 model.patch_embed.num_heads=4"
  [lr1e-4]="optim.lr=0.0001"
  [lr1e-3]="optim.lr=0.001"
)
ORDER=(base huber transnorm camonly point point_track frames2 px112 narrow lr1e-4 lr1e-3)
mkdir -p "$OUT"
for name in "${ORDER[@]}"; do
  if [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]]; then continue; fi
  echo "== $name: ${RUNS[$name]:-(base)}  [$MINUTES min, $THREADS threads]"
  rm -f "$OUT/$name.jsonl"
  # shellcheck disable=SC2086  # the run's overrides are space-separated words
  $PYTHON benchmarks/timed_run.py small-synthetic-long "${BASE[@]}" ${RUNS[$name]} out_dir="$OUT/$name" \
    --minutes "$MINUTES" --eval-every-s "$EVAL_S" --threads "$THREADS" --name "$name" --out "$OUT/$name.jsonl"
done
$PYTHON benchmarks/plot_training_study.py "$OUT"/*.jsonl --out "$OUT/training_study.png" | tee "$OUT/training_study.md"
