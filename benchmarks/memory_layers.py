"""Peak memory of the aggregator keeping all 24 layer outputs (official behaviour) vs only those the
heads read (ours), measured in separate processes with ``ru_maxrss`` (CPU) or the CUDA allocator.

    .venv/bin/python benchmarks/memory_layers.py --frames 8 --size 294x518 --dtype bf16

Weights are random (VGGT-1B shapes); the difference between the two rows is the cost of the
discarded layer outputs: 20 x [B, S, P, 2C] tensors in fp32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
frames, h, w, dtype, keep_all, device = sys.argv[1:7]
model = random_model(VGGTConfig.preset("vggt-1b").with_heads(track=False), device=device)
images = torch.rand(1, int(frames), 3, int(h), int(w), device=device)
layers = None if keep_all == "1" else model.layers_for(("camera", "depth", "point"))
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16"):
    tokens, _ = model.aggregator(images, layers=layers)
kept = sum(t.numel() * t.element_size() for t in tokens.values())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
peak = torch.cuda.max_memory_allocated() if device == "cuda" else rss
print(json.dumps({"kept_layers": len(tokens), "kept_bytes": kept, "peak_bytes": peak}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="294x518")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    h, w = args.size.split("x")
    rows = {}
    for name, keep_all in (("all 24 layers (official)", "1"), ("heads' layers only (ours)", "0")):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.frames), h, w, args.dtype, keep_all, args.device],
            check=True,
            capture_output=True,
            text=True,
        )
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"| aggregator outputs kept | layers | kept (GB) | process peak (GB) |  # {args.frames} frames {args.size}")
    print("|---|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['kept_layers']} | {r['kept_bytes'] / 1e9:.2f} | {r['peak_bytes'] / 1e9:.2f} |")


if __name__ == "__main__":
    main()
