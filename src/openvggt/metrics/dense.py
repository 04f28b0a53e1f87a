"""Depth-map and point-cloud accuracy.

Depth (monocular/video-depth protocol): predictions are scale-ambiguous, so they are scaled by
``median(gt) / median(pred)`` over the valid pixels, either once per scene (``align="median"``,
one factor for all frames, which also tests cross-frame scale consistency) or once per frame
(``align="median_per_frame"``), or not at all (``align="none"``). Metrics are then pooled over
all valid pixels of all frames (every pixel weighs the same):

* AbsRel = mean ``|d - d*| / d*``;
* δ<1.25 = percentage of pixels with ``max(d / d*, d* / d) < 1.25`` (non-positive predictions
  count as misses);
* RMSE = ``sqrt(mean (d - d*)^2)`` in the reference's units.

Point clouds (DTU / ETH3D style): accuracy = mean distance from each predicted point to its
nearest reference point, completeness = mean distance from each reference point to its nearest
predicted point, overall = their mean (medians reported too). Before measuring, the prediction
can be brought into the reference frame with a Sim(3) (Umeyama) fitted either on the camera
centres (``align="cameras"``) or on corresponding points (``align="points"``, same ``N``).
"""

from __future__ import annotations

import logging

import numpy as np

from openvggt.geometry import umeyama_alignment

from ._common import as_bool, as_float64, check_last_dims

log = logging.getLogger(__name__)

__all__ = ["depth_metrics", "pointcloud_metrics", "apply_sim3", "DEPTH_ALIGN_MODES", "POINT_ALIGN_MODES"]

DEPTH_ALIGN_MODES = ("median", "median_per_frame", "none")
POINT_ALIGN_MODES = ("none", "cameras", "points")


def _depth_frames(x, name: str) -> np.ndarray:
    """``[S, H, W]`` float64 from ``[H, W]``, ``[S, H, W]`` or ``[S, H, W, 1]``."""
    a = as_float64(x, name)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be [H, W], [S, H, W] or [S, H, W, 1], got shape {a.shape}")
    return a


def _median_scale(pred: np.ndarray, gt: np.ndarray) -> float:
    """``median(gt) / median(pred)``; NaN when the prediction's median is not positive or nothing is valid."""
    if pred.size == 0:
        return float("nan")
    mp = float(np.median(pred))
    return float(np.median(gt)) / mp if mp > 0 else float("nan")


def depth_metrics(pred, gt, mask=None, align: str = "median") -> dict:
    """AbsRel, δ<1.25 and RMSE of a depth prediction after median scaling.

    Args:
        pred: ``[S, H, W]`` (or ``[H, W]``, ``[S, H, W, 1]``) predicted depth, numpy or torch.
        gt: same shape, reference depth; pixels with ``gt <= 0`` or non-finite are invalid.
        mask: optional ``[S, H, W]`` bool, further restricting the valid pixels.
        align: ``"median"`` (one factor per scene), ``"median_per_frame"`` or ``"none"``.

    Returns:
        ``{"abs_rel", "delta_1_25" (percent), "rmse", "align", "scale" (float per scene or list per
        frame), "valid_pixels"}``; metrics are NaN when nothing is valid or a scale is undefined.
    """
    if align not in DEPTH_ALIGN_MODES:
        raise ValueError(f"align must be one of {DEPTH_ALIGN_MODES}, got {align!r}")
    p, g = _depth_frames(pred, "pred"), _depth_frames(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt depth shapes differ: {p.shape} vs {g.shape}")
    valid = np.isfinite(g) & (g > 0) & np.isfinite(p)
    if mask is not None:
        m = as_bool(mask, "mask")
        m = m[..., 0] if m.ndim == 4 else (m[None] if m.ndim == 2 else m)
        if m.shape != g.shape:
            raise ValueError(f"mask shape {m.shape} does not match depth shape {g.shape}")
        valid &= m
    if align == "median":
        scale: float | list[float] = _median_scale(p[valid], g[valid])
        factors = np.full(p.shape[0], scale)
    elif align == "median_per_frame":
        factors = np.array([_median_scale(p[s][valid[s]], g[s][valid[s]]) for s in range(p.shape[0])])
        scale = [float(f) for f in factors]
    else:
        scale = 1.0
        factors = np.ones(p.shape[0])
    frame_ok = np.isfinite(factors)
    if not frame_ok.all():
        log.warning("depth scale undefined for %d frame(s) (non-positive median prediction)", int((~frame_ok).sum()))
    d, ref = (p * factors[:, None, None])[valid], g[valid]
    out = {"align": align, "scale": scale, "valid_pixels": int(valid.sum())}
    if d.size == 0:
        return {"abs_rel": float("nan"), "delta_1_25": float("nan"), "rmse": float("nan"), **out}
    ratio = np.where(d > 0, np.maximum(d / ref, ref / np.where(d > 0, d, 1.0)), np.inf)
    return {
        "abs_rel": float(np.mean(np.abs(d - ref) / ref)),
        "delta_1_25": float(100.0 * np.mean(ratio < 1.25)),
        "rmse": float(np.sqrt(np.mean((d - ref) ** 2))),
        **out,
    }


def apply_sim3(points, scale: float, rotation, translation) -> np.ndarray:
    """``s R x + t`` for ``[..., 3]`` points; returns float64 numpy."""
    x = as_float64(points, "points")
    r, t = as_float64(rotation, "rotation"), as_float64(translation, "translation").reshape(3)
    return float(scale) * x @ r.T + t


def _points(x, name: str) -> np.ndarray:
    a = as_float64(x, name)
    check_last_dims(a, name, (3,))
    a = a.reshape(-1, 3)
    keep = np.isfinite(a).all(axis=1)
    if not keep.all():
        log.warning("%s: dropping %d non-finite point(s)", name, int((~keep).sum()))
    return a[keep]


def _camera_centers(extrinsics: np.ndarray) -> np.ndarray:
    """``[S, 3]`` world positions ``-R^T t`` of ``[S, 3|4, 4]`` world-to-camera matrices."""
    rot, trans = extrinsics[:, :3, :3], extrinsics[:, :3, 3]
    return -np.einsum("sba,sb->sa", rot, trans)


def _fit_sim3(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:

    s, r, t = umeyama_alignment(src, dst, with_scale=True)
    return float(s), as_float64(r, "R"), as_float64(t, "t").reshape(3)


def _alignment(align, pred_points, gt_points, pred_extrinsics, gt_extrinsics):
    """The Sim(3) ``(s, R, t)`` taking the prediction into the reference frame, or None."""
    if align == "none":
        return None
    if align == "cameras":
        if pred_extrinsics is None or gt_extrinsics is None:
            raise ValueError('align="cameras" needs pred_extrinsics and gt_extrinsics')
        pe, ge = as_float64(pred_extrinsics, "pred_extrinsics"), as_float64(gt_extrinsics, "gt_extrinsics")
        if pe.shape != ge.shape or pe.ndim != 3 or pe.shape[0] < 3:
            raise ValueError(f"need >= 3 matching cameras to fit Sim(3), got {pe.shape} and {ge.shape}")
        return _fit_sim3(_camera_centers(pe), _camera_centers(ge))
    p, g = as_float64(pred_points, "pred_points"), as_float64(gt_points, "gt_points")
    if p.shape != g.shape:
        raise ValueError(f'align="points" needs corresponding points of one shape, got {p.shape} and {g.shape}')
    p, g = p.reshape(-1, 3), g.reshape(-1, 3)
    ok = np.isfinite(p).all(1) & np.isfinite(g).all(1)
    return _fit_sim3(p[ok], g[ok])


def pointcloud_metrics(
    pred_points,
    gt_points,
    align: str = "none",
    pred_extrinsics=None,
    gt_extrinsics=None,
    max_points: int | None = None,
    seed: int = 0,
) -> dict:
    """Accuracy, completeness and overall (mean nearest-neighbour distances) of a point cloud.

    Args:
        pred_points: ``[N, 3]`` (or any ``[..., 3]``) predicted points, world frame of the prediction.
        gt_points: ``[M, 3]`` reference points; with ``align="points"`` the same shape as
            ``pred_points``, row ``k`` corresponding to row ``k``.
        align: ``"none"``, ``"cameras"`` (Umeyama Sim(3) from predicted to reference camera
            centres; needs both ``[S, 3|4, 4]`` world-to-camera extrinsics, ``S >= 3``) or
            ``"points"`` (Umeyama on the corresponding points).
        max_points: if set, each cloud is randomly subsampled (``seed``) to at most this many
            points after alignment, to bound the cost of the KD-tree queries.

    Returns:
        ``{"accuracy", "completeness", "overall", "accuracy_median", "completeness_median",
        "align", "sim3_scale", "pred_points", "gt_points"}``; distances in reference units.
    """
    from scipy.spatial import cKDTree

    if align not in POINT_ALIGN_MODES:
        raise ValueError(f"align must be one of {POINT_ALIGN_MODES}, got {align!r}")
    sim3 = _alignment(align, pred_points, gt_points, pred_extrinsics, gt_extrinsics)
    p, g = _points(pred_points, "pred_points"), _points(gt_points, "gt_points")
    if sim3 is not None:
        p = apply_sim3(p, *sim3)
    if max_points is not None:
        rng = np.random.default_rng(seed)
        p = p[rng.permutation(len(p))[:max_points]] if len(p) > max_points else p
        g = g[rng.permutation(len(g))[:max_points]] if len(g) > max_points else g
    if len(p) == 0 or len(g) == 0:
        raise ValueError(f"empty point cloud: {len(p)} predicted, {len(g)} reference finite points")
    acc = cKDTree(g).query(p, k=1)[0]
    comp = cKDTree(p).query(g, k=1)[0]
    return {
        "accuracy": float(acc.mean()),
        "completeness": float(comp.mean()),
        "overall": float(0.5 * (acc.mean() + comp.mean())),
        "accuracy_median": float(np.median(acc)),
        "completeness_median": float(np.median(comp)),
        "align": align,
        "sim3_scale": None if sim3 is None else sim3[0],
        "pred_points": int(len(p)),
        "gt_points": int(len(g)),
    }
