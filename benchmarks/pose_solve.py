"""Cameras solved from what the model predicts densely, against the camera head's own.

    python benchmarks/pose_solve.py WEIGHTS SCENES_ROOT [--scenes 40] [--frames 8] [--threads 2] [--gt-oracles]

The camera head of the small models learns the dataset's mean pose (training_study.md §8-12). Their depth and
point heads do learn, and each camera is also fixed by them: a frame's depth, unprojected, gives its pixels in its
own camera; the point head gives the same pixels in frame 0's. Solvers scored here (AUC@30 / RRA@15 / RTA@15 of
all pairs, mean over scenes, as the evaluation does):

- ``head``: the camera head (the model's own answer).
- ``points``: each frame's rigid alignment (confidence-weighted Umeyama, with scale) of its depth unprojected with
  the head's intrinsics onto its point map. No matching needed.
- ``tracks`` (a model with a track head): frame-0 patch centres tracked into every frame, lifted with frame 0's
  depth, and each frame's pose from PnP + RANSAC (OpenCV) on the visible tracks.
- ``matches`` (``camera_head.motion="match"``): the same PnP on the camera head's matcher's mutual-best matches.

``--gt-oracles`` adds each solver with GT depth and GT intrinsics in place of the predicted ones (what better
depth would buy), the exact correspondences from the scene's GT (what better matches would buy) and, as a
classical reference, OpenCV SIFT matches of frame 0 to each frame.
"""

from __future__ import annotations

import sys
import time

import _diagnostics
import cv2
import numpy as np
import torch

from openvggt.geometry.alignment import umeyama_alignment
from openvggt.geometry.pose_encoding import pose_encoding_to_extri_intri
from openvggt.geometry.unprojection import depth_to_cam_coords
from openvggt.io.checkpoint import load_model
from openvggt.metrics.camera import camera_metrics
from openvggt.train.data import collate


def lift(depth: np.ndarray, intr: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Pixels ``uv [N, 2]`` of a ``[H, W]`` depth map (bilinear; pixel ``(r, c)`` sits at ``(x, y) = (c, r)``, the
    convention of :func:`~openvggt.geometry.unprojection.depth_to_cam_coords`) -> camera points ``[N, 3]``."""
    h, w = depth.shape
    x = np.clip(uv[:, 0], 0, w - 1.001)
    y = np.clip(uv[:, 1], 0, h - 1.001)
    x0, y0 = x.astype(int), y.astype(int)
    fx, fy = x - x0, y - y0
    d = (
        depth[y0, x0] * (1 - fx) * (1 - fy)
        + depth[y0, x0 + 1] * fx * (1 - fy)
        + depth[y0 + 1, x0] * (1 - fx) * fy
        + depth[y0 + 1, x0 + 1] * fx * fy
    )
    rays = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(intr).T
    return rays * d[:, None]


def pnp(world: np.ndarray, uv: np.ndarray, intr: np.ndarray, ok: np.ndarray, px: float) -> np.ndarray:
    """Frame pose ``[3, 4]`` (world -> camera) from 3D-2D matches with RANSAC; identity when it fails."""
    ok = ok & np.isfinite(world).all(1) & (world[:, 2] > 0)
    if ok.sum() < 6:
        return np.eye(3, 4)
    found, rvec, tvec, _ = cv2.solvePnPRansac(
        world[ok].astype(np.float64), uv[ok].astype(np.float64), intr.astype(np.float64), None,
        reprojectionError=px, iterationsCount=200, confidence=0.999, flags=cv2.SOLVEPNP_EPNP,
    )  # fmt: skip
    if not found:
        return np.eye(3, 4)
    return np.c_[cv2.Rodrigues(rvec)[0], tvec[:, 0]]


def from_points(depth: np.ndarray, conf: np.ndarray, points: np.ndarray, pconf: np.ndarray, intr: np.ndarray):  # noqa: ANN201
    """Per frame: align the depth's camera points onto the point map's frame-0 points -> ``[S, 3, 4]``."""
    out = np.zeros((len(depth), 3, 4))
    for i in range(len(depth)):
        cam = depth_to_cam_coords(depth[i], intr[i], cam_dtype=None).reshape(-1, 3)
        world = points[i].reshape(-1, 3)
        wgt = (conf[i] * pconf[i]).reshape(-1)
        keep = wgt >= np.quantile(wgt, 0.5)
        scale, rot, t = umeyama_alignment(world[keep], cam[keep], True, wgt[keep])  # cam ~ s R world + t
        out[i] = np.c_[rot, t / scale]
    return out


def from_matches(depth0: np.ndarray, intr: np.ndarray, uv0: np.ndarray, uvs: np.ndarray, ok: np.ndarray, px: float):  # noqa: ANN201
    """Frame-0 pixels ``uv0 [S, N, 2]`` matched to ``uvs [S, N, 2]`` in frame ``s`` -> poses ``[S, 3, 4]``."""
    out = np.zeros((len(uvs), 3, 4))
    out[0] = np.eye(3, 4)
    for i in range(1, len(uvs)):
        out[i] = pnp(lift(depth0, intr[0], uv0[i]), uvs[i], intr[i], ok[i], px)
    return out


def relative_pose(a: np.ndarray, b: np.ndarray, intr: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Pose ``[3, 4]`` of the camera that sees pixels ``b [N, 2]`` relative to the one that sees ``a [N, 2]`` (same
    intrinsics ``intr``), translation of unit length, from an essential matrix (OpenCV five-point RANSAC, ``px``
    pixels) and the cheirality check; with the inlier mask. None when there is no such matrix."""
    a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    if len(a) < 8:
        return None
    try:  # an exactly degenerate set (no motion at all) makes the polynomial solver assert
        e, inl = cv2.findEssentialMat(a, b, intr, cv2.RANSAC, 0.999, px)
    except cv2.error:
        return None
    if e is None or e.shape != (3, 3):
        return None
    _, rot, t, mask = cv2.recoverPose(e, a, b, intr, mask=inl.copy())
    return np.c_[rot, t[:, 0]], mask.ravel() > 0


def from_essential(depth0: np.ndarray, intr: np.ndarray, uv0: np.ndarray, uvs: np.ndarray, ok: np.ndarray, px: float):  # noqa: ANN201
    """Like :func:`from_matches`, but each frame's rotation and translation direction come from the two-view
    essential matrix, which needs no depth; frame 0's depth only sets the length of the translation (the median
    ratio of its depth to the depth triangulated with a unit baseline, over the inliers). ``intr [3, 3]`` is the
    scene's one camera. Identity where it fails."""
    out = np.tile(np.eye(3, 4), (len(uvs), 1, 1))
    for i in range(1, len(uvs)):
        found = relative_pose(uv0[i][ok[i]], uvs[i][ok[i]], intr, px)
        if found is None or found[1].sum() < 5:
            continue
        pose, inl = found
        a, b = uv0[i][ok[i]][inl], uvs[i][ok[i]][inl]
        x = cv2.triangulatePoints(intr @ np.eye(3, 4), intr @ pose, a.T.astype(np.float64), b.T.astype(np.float64))
        z, d = x[2] / x[3], lift(depth0, intr, a)[:, 2]
        good = (z > 0) & (d > 0) & np.isfinite(z)
        scale = float(np.median(d[good] / z[good])) if good.any() else 1.0
        out[i] = np.c_[pose[:, :3], pose[:, 3] * scale]
    return out


def exact_matches(sample: dict, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GT: where frame 0's pixels ``uv [N, 2]`` land in every frame, and whether they are seen there."""
    depth, ext, intr = (sample[k].double().numpy() for k in ("depths", "extrinsics", "intrinsics"))
    s, h, w = depth.shape
    world = lift(depth[0], intr[0], uv)  # frame 0 = world
    out, seen = np.zeros((s, len(uv), 2)), np.zeros((s, len(uv)), bool)
    for i in range(s):
        cam = world @ ext[i, :, :3].T + ext[i, :, 3]
        proj = cam @ intr[i].T
        xy = proj[:, :2] / np.maximum(proj[:, 2:], 1e-9)
        inside = (cam[:, 2] > 1e-6) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        r, c = np.clip(xy[:, 1].astype(int), 0, h - 1), np.clip(xy[:, 0].astype(int), 0, w - 1)
        visible = inside & (np.abs(depth[i][r, c] - cam[:, 2]) < 0.05 * cam[:, 2])  # not occluded
        out[i], seen[i] = xy, visible & (depth[0][uv[:, 1].astype(int), uv[:, 0].astype(int)] > 0)
    return out, seen


def exact_pairs(xy: np.ndarray, seen: np.ndarray) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Every frame pair ``(i, j), i < j`` of :func:`exact_matches`' output, through the points both frames see (at
    least 8): ``{(i, j): (pixels in i [M, 2], pixels in j [M, 2])}``."""
    pairs = {}
    for i in range(len(xy)):
        for j in range(i + 1, len(xy)):
            both = seen[i] & seen[j]
            if both.sum() >= 8:
                pairs[i, j] = (xy[i][both], xy[j][both])
    return pairs


def sift_matches(images: torch.Tensor, max_matches: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classical matches of frame 0 to every frame (OpenCV SIFT, Lowe's ratio 0.8), padded: ``uv0, uvs [S, M, 2]``
    and ``ok [S, M]``. A reference for the learned matchers, not part of the model."""
    sift, matcher = cv2.SIFT_create(), cv2.BFMatcher()
    gray = [cv2.cvtColor((im.permute(1, 2, 0).numpy() * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for im in images]
    feats = [sift.detectAndCompute(g, None) for g in gray]
    s = len(images)
    uv0, uvs, ok = np.zeros((s, max_matches, 2)), np.zeros((s, max_matches, 2)), np.zeros((s, max_matches), bool)
    k0, d0 = feats[0]
    for i in range(1, s):
        ki, di = feats[i]
        if d0 is None or di is None or len(k0) < 2 or len(ki) < 2:
            continue
        good = [a for a, b in matcher.knnMatch(d0, di, k=2) if a.distance < 0.8 * b.distance][:max_matches]
        for j, m in enumerate(good):
            uv0[i, j], uvs[i, j], ok[i, j] = k0[m.queryIdx].pt, ki[m.trainIdx].pt, True
    return uv0, uvs, ok


def main(argv: list[str] | None = None) -> int:
    oracles = (("--gt-oracles", "also the solvers on GT depth / intrinsics / matches"),)
    args = _diagnostics.parse(__doc__, argv, frames=8, scenes=40, flags=oracles)
    model = load_model(args.weights).eval()
    ds = _diagnostics.scenes(args, args.frames)
    patch = model.config.patch_size
    has_track = model.track_head is not None
    has_match = getattr(model.camera_head, "motion", None) is not None
    rows: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for k in range(len(ds)):
        sample = ds[k]
        b = collate([sample])
        images = b["images"][0]
        s, _, height, width = images.shape
        gh, gw = height // patch, width // patch
        gy, gx = np.mgrid[0:gh, 0:gw]
        grid_uv = np.c_[(gx.ravel() + 0.5) * patch, (gy.ravel() + 0.5) * patch]  # [n, 2] patch centres, pixels
        queries = torch.from_numpy(grid_uv).float() if has_track else None
        with torch.no_grad():
            out = model(images, query_points=queries)
            ext_head, intr_head = pose_encoding_to_extri_intri(out.pose_enc, image_size_hw=(height, width))
        gt_ext = sample["extrinsics"].double().numpy()
        gt_intr = sample["intrinsics"].double().numpy()
        gt_depth = sample["depths"].double().numpy()
        intr = intr_head[0].double().numpy()
        depth = out.depth[0, ..., 0].double().numpy()
        conf = out.depth_conf[0].double().numpy()
        px = 0.02 * max(height, width)  # RANSAC threshold: 2 % of the image

        def add(name: str, pred: np.ndarray, gt_ext: np.ndarray = gt_ext) -> None:
            rows.setdefault(name, []).append(camera_metrics(pred, gt_ext))

        add("head", ext_head[0].double().numpy())
        add("identity", np.tile(np.eye(3, 4), (s, 1, 1)))
        if out.world_points is not None:
            pts, pconf = out.world_points[0].double().numpy(), out.world_points_conf[0].double().numpy()
            add("points", from_points(depth, conf, pts, pconf, intr))
            if args.gt_oracles:
                add("points, GT intrinsics", from_points(depth, conf, pts, pconf, gt_intr))
        if has_track:
            tr, vis = out.track[0].double().numpy(), out.vis[0].double().numpy()
            uv0 = np.broadcast_to(grid_uv, tr.shape)
            add("tracks", from_matches(depth[0], intr, uv0, tr, vis > 0.5, px))
            if args.gt_oracles:
                add("tracks, GT depth + intrinsics", from_matches(gt_depth[0], gt_intr, uv0, tr, vis > 0.5, px))
        if has_match:
            grid = model.forward_intermediates(images[None], layers=[model.config.depth - 1])
            with torch.no_grad():
                f = model.camera_head.motion.fields(grid.patch_grid(model.config.depth - 1))
            side = max(gh, gw)
            tgt = (f.pos + f.motion[0]).double().numpy()  # [S, n, 2] frame-0 positions, grid units
            uv0 = np.stack([(tgt[..., 0] * side + gw / 2) * patch, (tgt[..., 1] * side + gh / 2) * patch], -1)
            uvs = np.broadcast_to(grid_uv, uv0.shape)
            ok = f.trust[0].double().numpy() > 0.5
            add("matches", from_matches(depth[0], intr, uv0, uvs, ok, px))
            if args.gt_oracles:
                add("matches, GT depth + intrinsics", from_matches(gt_depth[0], gt_intr, uv0, uvs, ok, px))
        if args.gt_oracles:
            xy, seen = exact_matches(sample, grid_uv)
            uv0 = np.broadcast_to(grid_uv, xy.shape)
            add("exact matches, predicted depth + intrinsics", from_matches(depth[0], intr, uv0, xy, seen, px))
            add("exact matches, GT depth + predicted intrinsics", from_matches(gt_depth[0], intr, uv0, xy, seen, px))
            add("exact matches, GT depth + intrinsics", from_matches(gt_depth[0], gt_intr, uv0, xy, seen, px))
            uv0, uvs, ok = sift_matches(images)
            add("SIFT matches, predicted depth + intrinsics", from_matches(depth[0], intr, uv0, uvs, ok, px))
            add("SIFT matches, GT depth + intrinsics", from_matches(gt_depth[0], gt_intr, uv0, uvs, ok, px))
    _diagnostics.print_camera_table(args, len(ds), time.perf_counter() - t0, "cameras from", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
