"""Evaluation metrics, pure functions with numpy (or torch) in and Python floats / numpy out.

* cameras (VGGT protocol): :func:`relative_pose_errors`, :func:`auc`, :func:`camera_metrics`;
* depth: :func:`depth_metrics` (AbsRel, δ<1.25, RMSE after median scaling);
* point clouds: :func:`pointcloud_metrics` (accuracy / completeness / overall, optional Sim(3));
* tracks: :func:`tapvid_metrics` (TAP-Vid δ_avg, occlusion accuracy, average Jaccard).

The definitions and the conventions we chose are documented in each implementing module.
"""

from __future__ import annotations

from .camera import (
    FAILURE_DEG,
    PairErrors,
    accuracy,
    auc,
    camera_metrics,
    relative_pose_errors,
    summarize_pose_errors,
)
from .dense import apply_sim3, depth_metrics, pointcloud_metrics
from .tracks import TAPVID_THRESHOLDS, tapvid_metrics

__all__ = [
    "FAILURE_DEG",
    "PairErrors",
    "TAPVID_THRESHOLDS",
    "accuracy",
    "apply_sim3",
    "auc",
    "camera_metrics",
    "depth_metrics",
    "pointcloud_metrics",
    "relative_pose_errors",
    "summarize_pose_errors",
    "tapvid_metrics",
]
