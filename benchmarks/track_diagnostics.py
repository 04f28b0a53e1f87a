"""Has a trained trunk learnt to match frames? The track head's error on exact synthetic correspondences, next to
the error of "no motion" (every frame's position = the query's position in frame 0).

    python benchmarks/track_diagnostics.py WEIGHTS SCENES_ROOT [--size 168] [--frames 8] [--scenes 8] [--tracks 64]

Per scene: the median pixel error of the predicted tracks on the entries visible in the GT (frames > 0), the same
for the no-motion guess, and the GT's median motion. A track head (and so the trunk features it correlates) that
matches frames has an error well below the no-motion error; one that does not match stays near it. Queries are
the engine's exact frame-0 correspondences (``data.tracks.build_tracks``, positives only).
"""

from __future__ import annotations

import sys

import _diagnostics
import numpy as np
import torch

from openvggt.io.checkpoint import load_model
from openvggt.train.data import collate


def main(argv: list[str] | None = None) -> int:
    args = _diagnostics.parse(__doc__, argv, scenes=8, tracks=64)
    model = load_model(args.weights, heads=("track",)).eval()
    ds = _diagnostics.scenes(args, args.frames, args.tracks)
    print("| scene | no-motion error = GT motion (median px) | predicted error | within 4 px: predicted | no motion |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for i in range(len(ds)):
        b = collate([ds[i]])
        pos = b["track_positive_mask"][0]
        gt = b["tracks"][0][:, pos]  # [S, T, 2]
        vis = b["track_vis_mask"][0][:, pos].clone()
        vis[0] = False  # the query frame is given, not predicted
        if not vis.any():
            continue
        with torch.no_grad():
            out = model(b["images"], query_points=gt[0][None], heads=("track",))
        pred = out.track[0].float()
        err = (pred - gt).norm(dim=-1)[vis].numpy()
        still = (gt[0][None].expand_as(gt) - gt).norm(dim=-1)[vis].numpy()
        ratios.append(np.median(err) / max(np.median(still), 1e-6))
        print(
            f"| {b['seq_name'][0]} | {np.median(still):.1f} | {np.median(err):.1f} | "
            f"{100 * (err < 4).mean():.0f} % | {100 * (still < 4).mean():.0f} % |"
        )
    print(f"\nmedian predicted / no-motion error over scenes: {np.median(ratios):.2f} (< 1: the trunk matches)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
