"""Is the focal length what a matching solve on the model's depth lacks? Focal lengths from matches, scored.

    python benchmarks/focal_solve.py WEIGHTS SCENES_ROOT [--scenes 40] [--frames 8] [--threads 2]

training_study.md §13: with the engine's exact matches and GT depth, the camera head's near-constant focal length
takes a PnP solve from AUC@30 94.7 to 49.4. Here each scene's one focal length (the synthetic engine gives all
frames of a scene the same camera, principal point within 2 % of the centre) is instead estimated from the matches
themselves, with no training, four ways, and every estimate is put into the same PnP solve as ``pose_solve.py``'s
(frame-0 pixels lifted with the model's depth, each frame's pose by PnP + RANSAC):

- ``head``: the camera head's focal length of frame 0 (what the model says);
- ``F singular values``: a fundamental matrix per frame pair (RANSAC), then the focal length at which every
  ``E = K^T F K`` is closest to an essential matrix (two equal singular values; Mendonça and Cipolla's criterion,
  weighted by inliers);
- ``E inliers``: the focal length whose essential-matrix RANSAC keeps the most matches, frame 0 to every frame;
- ``PnP inliers``: the focal length whose lift-and-PnP keeps the most matches (uses the model's depth);
- ``GT``: the scene's own focal length (the oracle).

Two kinds of matches: OpenCV SIFT (Lowe's ratio 0.8, up to 2,000 per pair) and the engine's exact
correspondences of a 12x12 grid (what a perfect matcher would give), the latter also with GT depth in place of the
model's. Printed: the median relative focal error of
each estimator and the AUC@30 / RRA@15 / RTA@15 of the solve with it (mean over scenes).
"""

from __future__ import annotations

import sys
import time

import _diagnostics
import cv2
import numpy as np
import torch
from pose_solve import exact_matches, exact_pairs, from_matches, lift

from openvggt.geometry.pose_encoding import pose_encoding_to_extri_intri
from openvggt.io.checkpoint import load_model
from openvggt.metrics.camera import camera_metrics
from openvggt.train.data import collate

RATIOS = np.exp(np.linspace(np.log(0.3), np.log(2.0), 48))  # focal / longer image side searched (FoV 28-118 deg)


def centred_k(focal: float, width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics with the principal point at the image centre (pixel-centre convention)."""
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])


def sift_pairs(images: np.ndarray, limit: int) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """SIFT matches of every frame pair ``(i, j), i < j`` of uint8 ``images [S, 3, H, W]`` (at least 8 each)."""
    sift, matcher = cv2.SIFT_create(), cv2.BFMatcher()
    feats = [sift.detectAndCompute(cv2.cvtColor(im.transpose(1, 2, 0), cv2.COLOR_RGB2GRAY), None) for im in images]
    pairs = {}
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            (ki, di), (kj, dj) = feats[i], feats[j]
            if di is None or dj is None or len(ki) < 8 or len(kj) < 8:
                continue
            good = [a for a, b in matcher.knnMatch(di, dj, k=2) if a.distance < 0.8 * b.distance][:limit]
            if len(good) >= 8:
                a = np.array([ki[m.queryIdx].pt for m in good])
                b = np.array([kj[m.trainIdx].pt for m in good])
                pairs[i, j] = (a, b)
    return pairs


def focal_from_f(pairs: dict, width: int, height: int) -> float | None:
    """The searched focal length whose ``K^T F K`` have the most nearly equal two largest singular values."""
    found = []
    for a, b in pairs.values():
        if len(a) < 15:
            continue
        f, inl = cv2.findFundamentalMat(a, b, cv2.FM_RANSAC, 1.0, 0.999)
        if f is not None and f.shape == (3, 3):
            found.append((f, int(inl.sum())))
    if not found:
        return None
    side = max(width, height)
    cost = []
    for r in RATIOS:
        k = centred_k(r * side, width, height)
        s = [np.linalg.svd(k.T @ f @ k, compute_uv=False) for f, _ in found]
        cost.append(sum(n * (x[0] - x[1]) / (x[0] + x[1]) for (_, n), x in zip(found, s, strict=True)))
    return float(RATIOS[int(np.argmin(cost))] * side)


def focal_by_inliers(score, width: int, height: int) -> float:  # noqa: ANN001
    """The searched focal length with the most inliers, ``score(K) -> int``."""
    side = max(width, height)
    counts = [score(centred_k(r * side, width, height)) for r in RATIOS]
    return float(RATIOS[int(np.argmax(counts))] * side)


def essential_inliers(pairs0: dict, px: float):  # noqa: ANN201
    def score(k: np.ndarray) -> int:
        n = 0
        for a, b in pairs0.values():
            e, inl = cv2.findEssentialMat(a, b, k, cv2.RANSAC, 0.999, px)
            n += int(inl.sum()) if e is not None and e.shape == (3, 3) else 0
        return n

    return score


def pnp_inliers(depth0: np.ndarray, pairs0: dict, px: float):  # noqa: ANN201
    def score(k: np.ndarray) -> int:
        n = 0
        for a, b in pairs0.values():
            ok, _, _, inl = cv2.solvePnPRansac(
                lift(depth0, k, a), b, k, None, reprojectionError=px, iterationsCount=200, confidence=0.999,
                flags=cv2.SOLVEPNP_EPNP,
            )  # fmt: skip
            n += len(inl) if ok and inl is not None else 0
        return n

    return score


def padded(pairs0: dict, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame-0-to-frame-j matches as ``pose_solve.from_matches`` takes them: ``uv0, uvs [S, M, 2]``, ``ok [S, M]``."""
    m = max([len(a) for a, _ in pairs0.values()], default=1)
    uv0, uvs, ok = np.zeros((frames, m, 2)), np.zeros((frames, m, 2)), np.zeros((frames, m), bool)
    for j, (a, b) in pairs0.items():
        uv0[j, : len(a)], uvs[j, : len(a)], ok[j, : len(a)] = a, b, True
    return uv0, uvs, ok


def main(argv: list[str] | None = None) -> int:
    args = _diagnostics.parse(__doc__, argv, frames=8, scenes=40)
    limit = 2000
    model = load_model(args.weights).eval()
    ds = _diagnostics.scenes(args, args.frames)
    errors: dict[str, list[float]] = {}
    rows: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for k in range(len(ds)):
        sample = ds[k]
        images = collate([sample])["images"][0]
        s, _, height, width = images.shape
        with torch.no_grad():
            out = model(images)
            _, intr_head = pose_encoding_to_extri_intri(out.pose_enc, image_size_hw=(height, width))
        depth0 = out.depth[0, 0, ..., 0].double().numpy()
        gt_ext, gt_intr = sample["extrinsics"].double().numpy(), sample["intrinsics"].double().numpy()
        gt_f = float(gt_intr[0, 0, 0])
        px = 0.02 * max(height, width)
        u8 = (images.numpy() * 255).round().astype(np.uint8)
        sift = sift_pairs(u8, limit)
        gy, gx = np.mgrid[0:12, 0:12]
        grid = np.c_[(gx.ravel() + 0.5) * width / 12, (gy.ravel() + 0.5) * height / 12]
        xy, seen = exact_matches(sample, grid)
        exact = {(0, j): (grid[seen[j]], xy[j][seen[j]]) for j in range(1, s) if seen[j].sum() >= 8}
        # every other pair, through frame 0's grid points both frames see
        exact_all = {p: v for p, v in exact_pairs(xy, seen).items() if p[0] > 0}
        gt_depth0 = sample["depths"][0].double().numpy()
        exact = exact | exact_all
        sources = (("SIFT", sift, depth0), ("exact", exact, depth0), ("exact + GT depth:", exact, gt_depth0))
        for source, pairs, d0 in sources:
            pairs0 = {j: pairs[0, j] for j in range(1, s) if (0, j) in pairs}
            estimates = {
                "head": float(intr_head[0, 0, 0, 0]),
                "F singular values": focal_from_f(pairs, width, height),
                "E inliers": focal_by_inliers(essential_inliers(pairs0, 1.0), width, height),
                "PnP inliers": focal_by_inliers(pnp_inliers(d0, pairs0, px), width, height),
                "GT": gt_f,
            }
            uv0, uvs, ok = padded(pairs0, s)
            for name, f in estimates.items():
                key = f"{source} {name}"
                errors.setdefault(key, []).append(np.nan if f is None else abs(f - gt_f) / gt_f)
                f = estimates["head"] if f is None else f
                pred = from_matches(d0, np.tile(centred_k(f, width, height), (s, 1, 1)), uv0, uvs, ok, px)
                rows.setdefault(key, []).append(camera_metrics(pred, gt_ext))
    median = {name: f"{np.nanmedian(e):.3f}" for name, e in errors.items()}
    first = "matches (+ depth if not the model's), focal length from"
    _diagnostics.print_camera_table(
        args, len(ds), time.perf_counter() - t0, first, rows, ("median focal error", median)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
