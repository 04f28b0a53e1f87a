"""Two-view (essential-matrix) solves against the depth-lifted PnP of §13-16: how precise must matches be?

    python benchmarks/essential_solve.py WEIGHTS SCENES_ROOT [--scenes 40] [--frames 8] [--threads 2]
        [--match-size 504]

training_study.md §13-16 solved each frame's camera by lifting frame 0's matched pixels with the model's depth and
running PnP, and found the depth (AbsRel 0.23) capped every such solve near AUC@30 30 even with the engine's exact
matches. AUC@30 scores only rotations and translation *directions*, which two views fix without any depth: the
essential matrix. Here every frame's pose relative to frame 0 comes from ``pose_solve.from_essential`` (five-point
RANSAC at 1 px, cheirality, the depth only for the length of the translation) and is set beside the PnP solve, for:

- matches: the engine's exact correspondences of a 24x24 grid of frame 0 (a perfect matcher), the same with
  Gaussian noise of ``sigma`` px added to the far end (a good but imperfect one), and OpenCV SIFT (up to 2,000 a
  pair, Lowe's ratio 0.8), a classical reference that is not part of any model; with ``--match-size N`` also SIFT
  on the same frames at N px (the scenes rendered at least that large), its keypoints mapped into the model's
  frames through each frame's intrinsics: what matching on the full-resolution photographs would give;
- focal length: the scene's GT, the camera head's, or self-calibrated from the matches (``focal_solve``'s
  singular-value criterion on every frame pair);
- the translation length from the model's depth, or from GT depth (what better depth would add).

Printed: AUC@30 / RRA@15 / RTA@15 over all frame pairs, mean over scenes (the evaluation's figures).
"""

from __future__ import annotations

import argparse
import sys
import time

import _diagnostics
import numpy as np
import torch
from focal_solve import centred_k, focal_from_f, padded, sift_pairs
from pose_solve import exact_matches, exact_pairs, from_essential, from_matches

from openvggt.geometry.pose_encoding import pose_encoding_to_extri_intri
from openvggt.io.checkpoint import load_model
from openvggt.metrics.camera import camera_metrics
from openvggt.train.data import collate

NOISE_PX = (0.25, 0.5, 1.0, 2.0)


def grid_pairs(sample: dict, n: int, width: int, height: int) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Exact matches of every frame pair, through the points of an ``n x n`` grid of frame 0 both frames see."""
    gy, gx = np.mgrid[0:n, 0:n]
    grid = np.c_[(gx.ravel() + 0.5) * width / n, (gy.ravel() + 0.5) * height / n]
    return exact_pairs(*exact_matches(sample, grid))


def to_frames(pairs: dict, big: np.ndarray, small: np.ndarray) -> dict:
    """Matches found in frames of intrinsics ``big [S, 3, 3]`` moved into the same frames of intrinsics ``small``
    (a resize and crop of the same pictures: an affine map per axis)."""

    def move(uv: np.ndarray, i: int) -> np.ndarray:
        scale = np.diag(small[i])[:2] / np.diag(big[i])[:2]
        return (uv - big[i, :2, 2]) * scale + small[i, :2, 2]

    return {(i, j): (move(a, i), move(b, j)) for (i, j), (a, b) in pairs.items()}


def main(argv: list[str] | None = None) -> int:
    numbers = (("--match-size", 0, "also SIFT at this size, mapped into the model's frames (0: not)"),)
    args = _diagnostics.parse(__doc__, argv, frames=8, scenes=40, numbers=numbers)
    px = 1.0
    model = load_model(args.weights).eval()
    ds = _diagnostics.scenes(args, args.frames)
    big = None
    if args.match_size:
        big = _diagnostics.scenes(argparse.Namespace(**{**vars(args), "size": args.match_size}), args.frames)
    rows: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for k in range(len(ds)):
        sample = ds[k]
        images = collate([sample])["images"][0]
        s, _, height, width = images.shape
        with torch.no_grad():
            out = model(images, heads=["camera", "depth"])
            _, intr_head = pose_encoding_to_extri_intri(out.pose_enc, image_size_hw=(height, width))
        depth0, gt_depth0 = out.depth[0, 0, ..., 0].double().numpy(), sample["depths"][0].double().numpy()
        gt_ext, gt_f = sample["extrinsics"].double().numpy(), float(sample["intrinsics"][0, 0, 0])
        exact = grid_pairs(sample, 24, width, height)
        rng = np.random.default_rng(k)
        sources = {"exact": exact}
        for sigma in NOISE_PX:
            sources[f"exact + {sigma} px noise"] = {
                p: (a, b + rng.normal(0, sigma, b.shape)) for p, (a, b) in exact.items()
            }
        sources["SIFT"] = sift_pairs((images.numpy() * 255).round().astype(np.uint8), 2000)
        if big is not None:
            large = big[k]
            found = sift_pairs((collate([large])["images"][0].numpy() * 255).round().astype(np.uint8), 2000)
            moved = to_frames(found, large["intrinsics"].double().numpy(), sample["intrinsics"].double().numpy())
            sources[f"SIFT at {args.match_size} px"] = moved
        for source, pairs in sources.items():
            uv0, uvs, ok = padded({j: pairs[0, j] for j in range(1, s) if (0, j) in pairs}, s)
            self_cal = focal_from_f(pairs, width, height)
            focals = {"GT": gt_f, "head": float(intr_head[0, 0, 0, 0]), "self-calibrated": self_cal or gt_f}
            for name, f in focals.items():
                kk = centred_k(f, width, height)
                solved = from_essential(depth0, kk, uv0, uvs, ok, px)
                rows.setdefault(f"{source}, {name} focal, essential", []).append(camera_metrics(solved, gt_ext))
                if name == "self-calibrated" and source == "exact":
                    solved = from_essential(gt_depth0, kk, uv0, uvs, ok, px)
                    rows.setdefault(f"{source}, {name} focal, essential, GT depth", []).append(
                        camera_metrics(solved, gt_ext)
                    )
                if name != "head":
                    solved = from_matches(depth0, np.tile(kk, (s, 1, 1)), uv0, uvs, ok, 0.02 * max(height, width))
                    rows.setdefault(f"{source}, {name} focal, PnP", []).append(camera_metrics(solved, gt_ext))
    first = "matches, focal length, solver (model's depth unless named)"
    _diagnostics.print_camera_table(args, len(ds), time.perf_counter() - t0, first, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
