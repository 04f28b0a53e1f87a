"""The camera solve (``reconstruct --cameras matches``) under option variants, on scenes with reference cameras.

    python benchmarks/solve_probe.py [SCENE_DIR ...] [--weights default] [--variant NAME:key=value,key=value ...]

Each scene (default: every folder of ``../shared/scenes``) runs through the model once (``predictor``, the pipeline's
input size); then :func:`openvggt.pipeline.camera_solve.solve_cameras` runs once per variant on the same depth,
timed, and its cameras are scored against ``cameras.json`` (AUC@30 of the VGGT protocol, ``metrics.camera``). A
variant is a name and :class:`SolveOptions` overrides, e.g. ``fast:max_side=768,features=2000`` (``focal=-1``: the
reference's focal length, ``-2``: 1.2 x the longer side); ``base`` (the defaults) always runs. Printed: a
markdown table (AUC@30, solved frames, focal length found / reference, seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from openvggt.data.readers import read_cameras_json
from openvggt.eval.suites import real_scenes_root
from openvggt.metrics.camera import camera_metrics
from openvggt.pipeline.camera_solve import SolveOptions, solve_cameras
from openvggt.pipeline.inference import load_predictor
from openvggt.pipeline.inputs import collect_inputs, load_frames
from openvggt.pipeline.reconstruct import RawPredictions, predicted_cameras


def parse_variant(text: str) -> tuple[str, SolveOptions]:
    name, _, body = text.partition(":")
    kinds = {f.name: f.type for f in fields(SolveOptions)}
    over = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in kinds:
            sys.exit(f"solve_probe: no SolveOptions field {key!r}")
        over[key] = float(value) if "." in value else (value if not value.lstrip("-").isdigit() else int(value))
    return name, replace(SolveOptions(), **over)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="*", type=Path)
    ap.add_argument("--weights", default="default")
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    variants = [("base", SolveOptions())] + [parse_variant(v) for v in args.variant]
    scenes = args.scenes or sorted(p for p in real_scenes_root().iterdir() if (p / "cameras.json").is_file())
    predictor = load_predictor(args.weights)
    print("| scene | frames | " + " | ".join(f"{n} AUC@30 | solved | focal / ref | s" for n, _ in variants) + " |")
    print("|---|---|" + "---|---|---|---|" * len(variants))
    totals = {n: [] for n, _ in variants}
    for scene in scenes:
        frames = collect_inputs(scene / "images")
        images, metas = load_frames(frames, predictor.mode, predictor.size)
        with torch.inference_mode():
            raw = RawPredictions.from_output(predictor(images, heads=("camera", "depth")))
        ext_head, _, k_head = predicted_cameras(torch.from_numpy(raw.pose_enc), metas, tuple(images.shape[-2:]))
        ref = read_cameras_json(scene)
        ext_ref, k_ref = np.concatenate([np.asarray(ref.R), np.asarray(ref.t)[..., None]], -1), np.asarray(ref.K)
        cells = []
        for name, opts in variants:
            if opts.focal == -1:  # focal=-1: the reference's (what a perfect focal length would give)
                opts = replace(opts, focal=float(k_ref[0, 0, 0]))
            elif opts.focal == -2:  # focal=-2: 1.2 x the longer side (COLMAP's prior without EXIF)
                opts = replace(opts, focal=1.2 * max(metas[0].original_size))
            t0 = time.perf_counter()
            got = solve_cameras(frames, metas, raw.depth, ext_head, k_head, opts)
            dt = time.perf_counter() - t0
            auc = camera_metrics(got.extrinsics, ext_ref)["auc30"]
            totals[name].append((auc, dt))
            focal = f"{got.intrinsics[0, 0, 0]:.0f} / {k_ref[0, 0, 0]:.0f}"
            cells.append(f"{auc:.1f} | {int(got.solved.sum())} | {focal} ({got.focal_source[:4]}) | {dt:.2f}")
        print(f"| {scene.name} | {len(frames)} | " + " | ".join(cells) + " |", flush=True)
    means = [f"**{np.mean([a for a, _ in v]):.1f}** | | | {np.sum([t for _, t in v]):.1f}" for v in totals.values()]
    print(f"| **mean of {len(scenes)}** | | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
