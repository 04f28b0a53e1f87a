"""Point-tracking accuracy with the TAP-Vid definitions (Doersch et al., NeurIPS 2022).

Layout follows TAP-Vid, which is query-major: ``[B, Q, T, ...]`` (videos, query points, frames).
VGGT's track head returns frame-major ``[B, S, N, 2]``; transpose with ``.transpose(0, 2, 1, 3)``
(``[B, N, S, 2]``) before calling. Coordinates are ``(x, y)`` pixels; occlusion flags are True
where the point is occluded (not visible).

Evaluated entries: every frame except the query frame (``query_mode="strided"``) or only the
frames after it (``query_mode="first"``, TAP-Vid's "query first" mode).

* occlusion accuracy: fraction of evaluated entries whose predicted occlusion flag is right;
* δ_avg (``pts_within_{1,2,4,8,16}`` averaged): among entries visible in the reference, the
  fraction with position error strictly below δ pixels; predicted occlusion is ignored;
* Jaccard at δ: ``TP / (TP + FN + FP)`` with TP = visible in reference, predicted visible and
  within δ; FN = visible in reference and (predicted occluded or not within δ); FP = predicted
  visible and (occluded in reference or not within δ); average Jaccard = mean over δ.

Each metric is computed per video and then averaged over videos (as the TAP-Vid benchmark
reports it). TAP-Vid measures positions at 256x256: pass ``image_size=(H, W)`` to rescale
coordinates from an ``H x W`` image to ``eval_size`` first.
"""

from __future__ import annotations

import numpy as np

from ._common import as_bool, as_float64, check_last_dims

__all__ = ["tapvid_metrics", "TAPVID_THRESHOLDS"]

TAPVID_THRESHOLDS = (1, 2, 4, 8, 16)


def _query_frames(query_points, batch_ndim: int) -> np.ndarray:
    """``[B, Q]`` integer query frames from TAP-Vid ``(t, y, x)`` query points or plain frame indices."""
    q = as_float64(query_points, "query_points")
    if q.ndim == batch_ndim + 1:
        check_last_dims(q, "query_points", (3,))
        q = q[..., 0]
    if q.ndim != batch_ndim:
        raise ValueError(f"query_points must be [..., Q, 3] (t, y, x) or [..., Q] frame indices, got {q.shape}")
    return np.round(q).astype(np.int64)


def _eval_mask(query_t: np.ndarray, num_frames: int, query_mode: str) -> np.ndarray:
    """``[B, Q, T]`` True at the entries that are scored."""
    frames = np.arange(num_frames)[None, None, :]
    t = query_t[..., None]
    if query_mode == "strided":
        return frames != t
    if query_mode == "first":
        return frames > t
    raise ValueError(f"query_mode must be 'strided' or 'first', got {query_mode!r}")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def tapvid_metrics(
    query_points,
    gt_occluded,
    gt_tracks,
    pred_occluded,
    pred_tracks,
    query_mode: str = "strided",
    image_size: tuple[int, int] | None = None,
    eval_size: tuple[int, int] = (256, 256),
    thresholds: tuple[float, ...] = TAPVID_THRESHOLDS,
) -> dict:
    """TAP-Vid occlusion accuracy, δ_avg and average Jaccard.

    Args:
        query_points: ``[B, Q, 3]`` TAP-Vid ``(t, y, x)`` queries (only ``t`` is used) or ``[B, Q]``
            query frame indices. The leading ``B`` may be omitted on all inputs (one video).
        gt_occluded: ``[B, Q, T]`` bool, True = occluded in the reference.
        gt_tracks: ``[B, Q, T, 2]`` reference ``(x, y)`` pixels.
        pred_occluded: ``[B, Q, T]`` bool predicted occlusion.
        pred_tracks: ``[B, Q, T, 2]`` predicted ``(x, y)`` pixels.
        query_mode: ``"strided"`` (all frames but the query) or ``"first"`` (frames after it).
        image_size: ``(H, W)`` of the pixel coordinates; if given, they are rescaled to ``eval_size``.
        thresholds: pixel thresholds δ.

    Returns:
        ``{"occlusion_accuracy", "delta_avg", "average_jaccard", "pts_within_{d}",
        "jaccard_{d}"}`` in percent, averaged over videos (videos without any scored entry are
        left out of that metric's average).
    """
    go, po = as_bool(gt_occluded, "gt_occluded"), as_bool(pred_occluded, "pred_occluded")
    gt, pt = as_float64(gt_tracks, "gt_tracks"), as_float64(pred_tracks, "pred_tracks")
    if go.ndim == 2:
        go, po, gt, pt = go[None], po[None], gt[None], pt[None]
        query_points = as_float64(query_points, "query_points")[None]
    check_last_dims(gt, "gt_tracks", (2,))
    if go.ndim != 3 or po.shape != go.shape or gt.shape != go.shape + (2,) or pt.shape != gt.shape:
        raise ValueError(
            f"expected occlusion [B, Q, T] and tracks [B, Q, T, 2]; got gt_occluded {go.shape}, "
            f"pred_occluded {po.shape}, gt_tracks {gt.shape}, pred_tracks {pt.shape}"
        )
    qt = _query_frames(query_points, batch_ndim=2)
    if qt.shape != go.shape[:2]:
        raise ValueError(f"query_points give {qt.shape} queries, tracks have {go.shape[:2]}")
    scored = _eval_mask(qt, go.shape[2], query_mode)
    if image_size is not None:
        factor = np.array([eval_size[1] / image_size[1], eval_size[0] / image_size[0]])  # (x, y)
        gt, pt = gt * factor, pt * factor

    out: dict = {}
    out["occlusion_accuracy"] = _ratio(np.sum((po == go) & scored, axis=(1, 2)), np.sum(scored, axis=(1, 2)))
    visible, pred_visible = ~go, ~po
    dist = np.linalg.norm(pt - gt, axis=-1)  # [B, Q, T]; NaN predictions are never within δ
    n_visible = np.sum(visible & scored, axis=(1, 2))
    within_all, jaccard_all = [], []
    for d in thresholds:
        within = dist < d
        correct = within & visible
        out[f"pts_within_{d}"] = _ratio(np.sum(correct & scored, axis=(1, 2)), n_visible)
        tp = np.sum(correct & pred_visible & scored, axis=(1, 2))
        fp = np.sum(pred_visible & (go | ~within) & scored, axis=(1, 2))
        out[f"jaccard_{d}"] = _ratio(tp, n_visible + fp)
        within_all.append(out[f"pts_within_{d}"])
        jaccard_all.append(out[f"jaccard_{d}"])
    out["delta_avg"] = np.mean(within_all, axis=0)
    out["average_jaccard"] = np.mean(jaccard_all, axis=0)
    return {k: _video_mean(v) for k, v in out.items()}


def _video_mean(per_video: np.ndarray) -> float:
    """Mean over videos, in percent, ignoring videos where the metric is undefined."""
    v = per_video[~np.isnan(per_video)]
    return float(100.0 * v.mean()) if v.size else float("nan")
