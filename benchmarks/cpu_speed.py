"""CPU forward time of VGGT-1B (random weights), fp32 vs bf16 autocast, and what each optimisation buys.

    .venv/bin/python benchmarks/cpu_speed.py --frames 2 --size 294x518 --repeat 3 --json docs/results/cpu_speed.json

Variants (all in one process, same weights and inputs):
- ``fp32``: plain float32 forward;
- ``bf16``: ``torch.autocast("cpu", dtype=torch.bfloat16)`` around ``model(images)`` (our default path);
- ``bf16-no-weight-cache``: the same without the cached bf16 weight copies (every Linear re-casts its
  fp32 weight on every call, as a plain ``nn.Linear`` under autocast does).
Reports the median time and the median relative depth difference of each bf16 variant to fp32.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from openvggt.layers import Linear, drop_cast_caches
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model


def timed(model, images, autocast: bool, repeat: int, warmup: int):  # noqa: ANN001, ANN201
    times, out = [], None
    for i in range(warmup + repeat):
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(images)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="vggt-1b")
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--size", default="294x518")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variants", default="fp32,bf16,bf16-no-weight-cache")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    model = random_model(VGGTConfig.preset(args.preset).with_heads(track=False), seed=0)
    images = torch.rand(1, args.frames, 3, h, w, generator=torch.Generator().manual_seed(0))
    results, depth = {}, {}
    for variant in args.variants.split(","):
        Linear.cache_device_types = () if variant == "bf16-no-weight-cache" else ("cpu",)
        drop_cast_caches(model)
        times, out = timed(model, images, variant != "fp32", args.repeat, args.warmup)
        depth[variant] = out.depth.float()
        results[variant] = {"median_s": statistics.median(times), "times_s": times}
        print(f"{variant:24s} median {statistics.median(times):7.2f} s  runs {[round(t, 2) for t in times]}", flush=True)
    Linear.cache_device_types = ("cpu",)
    if "fp32" in depth:
        for variant, d in depth.items():
            if variant != "fp32":
                rel = ((d - depth["fp32"]).abs() / depth["fp32"]).median().item()
                results[variant]["median_rel_depth_diff_vs_fp32"] = rel
                print(f"{variant:24s} median |depth - fp32| / fp32 = {rel:.4%}")
    if args.json:
        payload = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "preset": args.preset,
            "frames": args.frames,
            "size": args.size,
            "results": results,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
