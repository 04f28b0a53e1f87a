"""Sequence metrics: ATE and RPE (evo's definitions, computed with evo), AUC@30 on sampled frame pairs,
depth AbsRel.

* **ATE RMSE** — evo's APE on the translation part after a Sim(3) Umeyama alignment of the predicted camera
  centres to the reference (``evo_ape --align --correct_scale``), in the reference's units (metres).
* **RPE** — evo's RPE between frames ``delta`` apart (translation in reference units after the same scale
  correction, rotation in degrees), RMSE over all pairs.
* **AUC@30** — the VGGT protocol (:func:`openvggt.metrics.camera_metrics`) on ``pairs_frames`` frames spread
  evenly over the sequence (all pairs of 2,000 frames would be 2 million).
* **Depth AbsRel** — :func:`openvggt.metrics.depth_metrics` with one scale for the whole sequence (the ATE
  alignment's, so the chunks' scales must agree) and with a median scale per frame.
"""

from __future__ import annotations

import numpy as np

from openvggt.metrics import camera_metrics

__all__ = ["trajectory_metrics", "to_c2w", "camera_centres"]


def to_c2w(extrinsics: np.ndarray) -> np.ndarray:
    """``[S, 3, 4]`` world-to-camera -> ``[S, 4, 4]`` camera-to-world."""
    e = np.asarray(extrinsics, np.float64)
    out = np.tile(np.eye(4), (len(e), 1, 1))
    rot_t = np.transpose(e[:, :3, :3], (0, 2, 1))
    out[:, :3, :3] = rot_t
    out[:, :3, 3] = -np.einsum("nij,nj->ni", rot_t, e[:, :3, 3])
    return out


def camera_centres(extrinsics: np.ndarray) -> np.ndarray:
    return to_c2w(extrinsics)[:, :3, 3]


def _evo_trajectory(c2w: np.ndarray):  # noqa: ANN202
    from evo.core.trajectory import PoseTrajectory3D

    return PoseTrajectory3D(poses_se3=list(c2w), timestamps=np.arange(len(c2w), dtype=np.float64))


def trajectory_metrics(
    pred_extrinsics: np.ndarray, gt_extrinsics: np.ndarray, rpe_delta: int = 1, pairs_frames: int = 100
) -> dict:
    """ATE RMSE, RPE (translation, rotation), AUC@30/15/5 of ``[S, 3, 4]`` predictions against a reference."""
    from evo.core import metrics as evo_metrics

    pred, gt = to_c2w(pred_extrinsics), to_c2w(gt_extrinsics)
    traj_pred, traj_gt = _evo_trajectory(pred), _evo_trajectory(gt)
    r, t, scale = traj_pred.align(traj_gt, correct_scale=True)
    ape = evo_metrics.APE(evo_metrics.PoseRelation.translation_part)
    ape.process_data((traj_gt, traj_pred))
    out = {
        "frames": len(pred),
        "ate_rmse": float(ape.get_statistic(evo_metrics.StatisticsType.rmse)),
        "sim3_scale": float(scale),
    }
    if len(pred) > rpe_delta:
        for name, relation in (
            ("rpe_trans", evo_metrics.PoseRelation.translation_part),
            ("rpe_rot_deg", evo_metrics.PoseRelation.rotation_angle_deg),
        ):
            rpe = evo_metrics.RPE(relation, delta=rpe_delta, delta_unit=evo_metrics.Unit.frames, all_pairs=True)
            rpe.process_data((traj_gt, traj_pred))
            out[name] = float(rpe.get_statistic(evo_metrics.StatisticsType.rmse))
        out["rpe_delta"] = rpe_delta
    ids = np.unique(np.round(np.linspace(0, len(pred) - 1, min(pairs_frames, len(pred)))).astype(int))
    cams = camera_metrics(np.asarray(pred_extrinsics)[ids], np.asarray(gt_extrinsics)[ids])
    out.update({k: cams[k] for k in ("auc30", "auc15", "auc5")}, auc_frames=len(ids))
    return out


class DepthAccumulator:
    """AbsRel over a sequence, frame by frame (bounded memory): sums of ``|s d - g| / g`` and counts."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.sum_global = self.sum_frame = 0.0
        self.pixels = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        ok = (gt > 0) & np.isfinite(gt) & (pred > 0) & np.isfinite(pred)
        if not ok.any():
            return
        p, g = pred[ok].astype(np.float64), gt[ok].astype(np.float64)
        self.sum_global += float(np.sum(np.abs(self.scale * p - g) / g))
        s = float(np.median(g) / np.median(p))
        self.sum_frame += float(np.sum(np.abs(s * p - g) / g))
        self.pixels += int(ok.sum())

    def result(self) -> dict:
        n = max(self.pixels, 1)
        return {
            "abs_rel": self.sum_global / n if self.pixels else float("nan"),
            "abs_rel_per_frame_median": self.sum_frame / n if self.pixels else float("nan"),
            "depth_pixels": self.pixels,
        }


def gt_depth_at_model(gt_depth: np.ndarray, meta, hw: tuple[int, int]) -> np.ndarray:  # noqa: ANN001
    """Reference depth ``[h, w]`` (stored image) sampled (nearest) at the model input's pixel centres."""
    v, u = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float64) + 0.5
    xy = meta.model_to_original(np.stack([u, v], -1))  # corner-origin original pixels
    x = np.floor(xy[..., 0]).astype(int)
    y = np.floor(xy[..., 1]).astype(int)
    inside = (x >= 0) & (y >= 0) & (x < gt_depth.shape[1]) & (y < gt_depth.shape[0])
    out = np.zeros(hw, np.float32)
    out[inside] = gt_depth[y[inside], x[inside]]
    return out
