#!/usr/bin/env bash
# VGGT-1B on one H100/H200: time and peak memory at 1..1,000 frames of 336x518 in bf16, next to the paper's
# Table 7, plus a check of the 1,000-frame pass against a frame-chunked reference. Sized for one 10-minute call.
#
#   benchmarks/gpu_bench.sh [OUT_DIR]        # default: $OUT if set (the device tool), else docs/results
#
# Needs only python + torch with CUDA (no pip install; the script puts src/ on sys.path). Writes
# OUT_DIR/gpu_bench.json (rewritten after every row, so a kill keeps the rows done) and OUT_DIR/gpu_bench.md.
# GPU_BENCH_TIMEOUT (hard kill, default 570 s) and GPU_BENCH_BUDGET (seconds for the rows + check, default 470)
# size it; rows predicted not to fit are skipped and say so.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-docs/results}}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
timeout --signal=KILL "${GPU_BENCH_TIMEOUT:-570}" "$PY" benchmarks/gpu_bench.py \
    --budget "${GPU_BENCH_BUDGET:-470}" --out "$OUT_DIR/gpu_bench.json" "${@:2}"
rc=$?
if [ -f "$OUT_DIR/gpu_bench.json" ]; then
    "$PY" benchmarks/gpu_bench.py --render "$OUT_DIR/gpu_bench.json" >/dev/null && cat "$OUT_DIR/gpu_bench.md"
fi
exit $rc
