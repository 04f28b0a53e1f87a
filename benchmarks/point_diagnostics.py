"""Does a trained point head reason across frames? Per scene and frame, the point map's error against the GT world
points (frame 0's coordinates, what it is trained on) and against the GT points of the frame's *own* camera.

    python benchmarks/point_diagnostics.py WEIGHTS SCENES_ROOT [--size 168] [--frames 8] [--scenes 4]

A head that ignores the other frames places every frame's pixels as if its camera were frame 0's: its error to
the own-camera points is then far below its error to the world points for frames i > 0 (and both equal for
frame 0). Errors are median point distances after one least-squares scale per scene (the model's scale is free),
on GT-valid pixels, in units of the scene's normalised scale (mean point distance 1).
"""

from __future__ import annotations

import sys

import _diagnostics
import numpy as np
import torch

from openvggt.io.checkpoint import load_model
from openvggt.train.data import collate


def _scaled_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame median |s * pred - target| over masked pixels, one scale ``s`` for the scene."""
    p, t = pred[mask], target[mask]
    s = float((p * t).sum() / max((p * p).sum(), 1e-12))
    d = np.linalg.norm(s * pred - target, axis=-1)
    return np.array([np.median(d[i][mask[i]]) if mask[i].any() else np.nan for i in range(len(pred))])


def main(argv: list[str] | None = None) -> int:
    args = _diagnostics.parse(__doc__, argv)
    model = load_model(args.weights, heads=("point",)).eval()
    ds = _diagnostics.scenes(args, args.frames)
    print("| scene | error to world points, frames 0..S-1 | error to own-camera points | world / own, frames > 0 |")
    print("|---|---|---|---:|")
    ratios = []
    for i in range(len(ds)):
        b = collate([ds[i]])
        with torch.no_grad():
            out = model(b["images"], heads=("point",))
        pred = out.world_points[0].float().numpy()  # [S, H, W, 3]
        mask = b["point_masks"][0].numpy().astype(bool)
        world = _scaled_errors(pred, b["world_points"][0].numpy(), mask)
        own = _scaled_errors(pred, b["cam_points"][0].numpy(), mask)
        ratio = float(np.nanmedian(world[1:] / own[1:]))
        ratios.append(ratio)
        fmt = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
        print(f"| {b['seq_name'][0]} | {fmt(world)} | {fmt(own)} | {ratio:.2f} |")
    print(f"\nmedian world/own error ratio over scenes: {np.median(ratios):.2f} (< 1: the head uses the other frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
