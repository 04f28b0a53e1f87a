#!/usr/bin/env bash
# Train vggt-small (all four heads) on one H100/H200 with ~16 CPU cores inside one 10-minute call:
#   1. render fresh synthetic scenes (training seed 2) with every core for RENDER_S seconds (default 140 s);
#   2. train the small-synthetic-gpu preset on them for MINUTES of training time (default 5.5), bf16 autocast,
#      DataLoader workers reading the rendered scenes; validation on 8 held-out VAL_SEED scenes at the end;
#   3. write DEST/vggt-small-gpu.safetensors (fp16, < 50 MB) with DEST/{config.json,log.jsonl,val.jsonl,summary.json}.
#
#   benchmarks/gpu_train.sh [DEST]          # DEST defaults to $OUT (the device tool's folder), else runs/gpu
#   RENDER_S=60 MINUTES=2 benchmarks/gpu_train.sh /tmp/x   # a quick check; ALLOW_CPU=1 lets it run without CUDA
#
# Environment: PYTHON (python3), RENDER_S, MINUTES, WORKERS (render processes, all cores), LOADERS (DataLoader
# workers, cores - 2), FPB (frames per batch, 48), ALLOW_CPU. Every step is bounded by a timeout, and the trainer
# checkpoints and exports when it is stopped, so the weights exist even when a phase overruns.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-${OUT:-runs/gpu}}
PYTHON=${PYTHON:-python3}
RENDER_S=${RENDER_S:-140}
MINUTES=${MINUTES:-5.5}
CORES=$(nproc)
WORKERS=${WORKERS:-$CORES}
LOADERS=${LOADERS:-$(( CORES > 3 ? CORES - 2 : 1 ))}
FPB=${FPB:-48}
SCENES_DIR=${SCENES_DIR:-data/synth_gpu}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1   # renderer and loader processes are single-threaded; the GPU does the training
mkdir -p "$DEST" "$SCENES_DIR"
t_start=$(date +%s)
log() { echo "[gpu_train $(( $(date +%s) - t_start ))s] $*"; }

# 0. The environment: torch with CUDA and the engine's dependencies (nothing can be installed on the device).
$PYTHON - <<'PY' || { echo "gpu_train: missing dependencies (see above)"; exit 3; }
import importlib.util, os, sys
missing = [m for m in ("torch", "numpy", "cv2", "PIL", "skimage", "safetensors", "tqdm") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {', '.join(missing)}")
import torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {'available: ' + torch.cuda.get_device_name(0) if ok else 'NOT available'}")
if not ok and os.environ.get("ALLOW_CPU") != "1":
    sys.exit("no CUDA device (set ALLOW_CPU=1 to run the recipe on the CPU anyway)")
PY

# 1. Render for RENDER_S seconds; scenes are complete folders (cameras.json written last), so killing is safe.
log "rendering fresh scenes (seed 2) with $WORKERS processes for ${RENDER_S}s into $SCENES_DIR"
setsid $PYTHON -m openvggt.cli synth "$SCENES_DIR" --scenes 20000 --frames 8 --seed 2 --size 168 \
  --workers "$WORKERS" > "$DEST/synth.log" 2>&1 &
synth_pid=$!
for _ in $(seq "$RENDER_S"); do kill -0 "$synth_pid" 2>/dev/null || break; sleep 1; done
kill -TERM -- "-$synth_pid" 2>/dev/null || true
sleep 2
kill -KILL -- "-$synth_pid" 2>/dev/null || true
wait "$synth_pid" 2>/dev/null || true
n_scenes=$(find "$SCENES_DIR" -mindepth 2 -maxdepth 2 -name cameras.json | wc -l)
log "$n_scenes complete scenes"
if [ "$n_scenes" -lt 8 ]; then echo "gpu_train: only $n_scenes scenes rendered; see $DEST/synth.log"; exit 4; fi

# 2. Train; SIGTERM (the timeout) makes the trainer checkpoint, validate and export after the current step.
RUN="$DEST/run"
limit=$($PYTHON -c "print(int($MINUTES * 60 + 150))")
log "training small-synthetic-gpu for $MINUTES min (hard limit ${limit}s), $LOADERS loader workers, $FPB frames a batch"
set +e
timeout -s TERM -k 30 "$limit" $PYTHON -m openvggt.cli train small-synthetic-gpu \
  data.root="$SCENES_DIR" max_minutes="$MINUTES" data.num_workers="$LOADERS" data.frames_per_batch="$FPB" \
  out_dir="$RUN" --no-progress 2>&1 | tail -n 40
rc=${PIPESTATUS[0]}
set -e
log "trainer exit code $rc"
if [ ! -f "$RUN/model.safetensors" ]; then echo "gpu_train: no weights were written (exit $rc)"; exit 5; fi

# 3. fp16 weights (the shipped format) and the run's records.
$PYTHON -m openvggt.cli convert "$RUN/model.safetensors" "$DEST/vggt-small-gpu.safetensors" --dtype fp16 --overwrite
cp "$RUN/config.json" "$RUN/log.jsonl" "$DEST/" 2>/dev/null || true
cp "$RUN/val.jsonl" "$DEST/" 2>/dev/null || true
$PYTHON - "$RUN" "$DEST" "$n_scenes" <<'PY'
import json, sys
from pathlib import Path
run, dest, n_scenes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
val = [json.loads(line) for line in (run / "val.jsonl").read_text().splitlines()] if (run / "val.jsonl").exists() else []
last = rows[-1] if rows else {}
summary = {
    "scenes_rendered": n_scenes,
    **{k: (val[-1] if val else last).get(k) for k in ("step", "train_seconds", "frames_seen")},
    "frames_per_s_last": last.get("frames_per_s"),
    "validation": val[-1] if val else None, "last_log": last,
}
(dest / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps({k: summary[k] for k in ("scenes_rendered", "step", "train_seconds", "frames_seen", "validation")}))
PY
ls -l "$DEST"/vggt-small-gpu.safetensors
log "done"
