"""Depth and point-cloud metrics on hand-computable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openvggt.metrics import apply_sim3, depth_metrics, pointcloud_metrics

GT2 = np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]])  # [S=2, H=2, W=2]


def test_scaled_prediction_is_perfect_after_median_scaling():
    m = depth_metrics(2.0 * GT2, GT2)
    assert m["abs_rel"] == pytest.approx(0.0) and m["delta_1_25"] == 100.0 and m["rmse"] == pytest.approx(0)
    assert m["scale"] == pytest.approx(0.5) and m["align"] == "median" and m["valid_pixels"] == 8


def test_per_scene_versus_per_frame_scaling():
    pred = np.stack([2.0 * GT2[0], 4.0 * GT2[1]])
    per_frame = depth_metrics(pred, GT2, align="median_per_frame")
    assert per_frame["abs_rel"] == pytest.approx(0.0) and per_frame["scale"] == pytest.approx([0.5, 0.25])
    # One factor for the scene: median(gt) = 2.5, median(pred) = median(2,4,4,6,8,8,12,16) = 7.
    scene = depth_metrics(pred, GT2, align="median")
    s = 2.5 / 7.0
    assert scene["scale"] == pytest.approx(s)
    assert scene["abs_rel"] == pytest.approx(0.5 * ((1 - 2 * s) + (4 * s - 1)))  # = 5/14
    assert scene["delta_1_25"] == 0.0  # ratios 1.4 and 10/7
    sq = [((2 * s - 1) * g) ** 2 for g in (1, 2, 3, 4)] + [((4 * s - 1) * g) ** 2 for g in (1, 2, 3, 4)]
    assert scene["rmse"] == pytest.approx(math.sqrt(sum(sq) / 8))


def test_no_alignment_and_threshold_boundaries():
    gt = np.array([[1.0, 2.0, 4.0, 8.0]])
    pred = np.array([[1.1, 2.6, 4.0, 5.0]])  # ratios 1.1, 1.3, 1.0, 1.6
    m = depth_metrics(pred, gt, align="none")
    assert m["abs_rel"] == pytest.approx((0.1 + 0.3 + 0 + 3 / 8) / 4)
    assert m["delta_1_25"] == pytest.approx(50.0)
    assert m["scale"] == 1.0


def test_invalid_pixels_are_ignored_and_bad_predictions_are_misses():
    gt = np.array([[[1.0, 0.0], [np.nan, 2.0]]])  # only (0,0) and (1,1) are valid
    pred = np.array([[[1.0, 50.0], [7.0, -2.0]]])
    m = depth_metrics(pred, gt, align="none")
    assert m["valid_pixels"] == 2
    assert m["abs_rel"] == pytest.approx((0.0 + 2.0) / 2)
    assert m["delta_1_25"] == pytest.approx(50.0)  # the negative prediction is a miss
    masked = depth_metrics(pred, gt, mask=np.array([[[True, True], [True, False]]]), align="none")
    assert masked["valid_pixels"] == 1 and masked["abs_rel"] == 0.0


def test_undefined_scale_gives_nan_not_a_crash():
    m = depth_metrics(-np.ones((1, 2, 2)), np.ones((1, 2, 2)))
    assert math.isnan(m["abs_rel"]) and math.isnan(m["scale"])


def test_depth_accepts_torch_and_trailing_channel_and_checks_input():
    m = depth_metrics(torch.from_numpy(3.0 * GT2)[..., None].float(), torch.from_numpy(GT2)[..., None])
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="align"):
        depth_metrics(GT2, GT2, align="mean")
    with pytest.raises(ValueError, match="shapes differ"):
        depth_metrics(GT2[:1], GT2)


def test_pointcloud_identical_and_hand_values():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200, 3))
    same = pointcloud_metrics(pts, pts)
    assert same["accuracy"] == 0.0 and same["completeness"] == 0.0 and same["overall"] == 0.0

    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.0, 0.5]])
    m = pointcloud_metrics(pred, gt)
    comp = (0.5 + math.sqrt(1.25)) / 2
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["completeness"] == pytest.approx(comp)
    assert m["overall"] == pytest.approx((0.5 + comp) / 2)
    assert m["pred_points"] == 1 and m["gt_points"] == 2 and m["sim3_scale"] is None


def test_pointcloud_drops_non_finite_and_subsamples():
    gt = np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])
    m = pointcloud_metrics(np.zeros((1, 3)), gt)
    assert m["gt_points"] == 1 and m["overall"] == 0.0
    big = np.random.default_rng(1).normal(size=(500, 3))
    assert pointcloud_metrics(big, big, max_points=100)["pred_points"] == 100
    with pytest.raises(ValueError, match="empty"):
        pointcloud_metrics(np.full((2, 3), np.nan), gt)


def test_apply_sim3():
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    out = apply_sim3(np.array([[1.0, 0.0, 0.0]]), 2.0, rot, [0.0, 0.0, 1.0])
    assert out == pytest.approx(np.array([[0.0, 2.0, 1.0]]))


def _similarity():
    a = np.radians(40.0)
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    return 0.3, rot, np.array([1.0, -2.0, 0.5])


def test_pointcloud_alignment_on_points_recovers_a_similarity():
    gt = np.random.default_rng(2).normal(size=(300, 3))
    s, rot, t = _similarity()
    pred = apply_sim3(gt, s, rot, t)  # the prediction lives in another similarity frame
    assert pointcloud_metrics(pred, gt)["overall"] > 0.1
    m = pointcloud_metrics(pred, gt, align="points")
    assert m["overall"] < 1e-9 and m["sim3_scale"] == pytest.approx(1 / s)


def test_pointcloud_alignment_on_camera_centres():
    rng = np.random.default_rng(3)
    gt_pts = rng.normal(size=(300, 3))
    centres = rng.normal(size=(5, 3)) * 3
    gt_ext = np.stack([np.concatenate([np.eye(3), -c[:, None]], 1) for c in centres])  # [5, 3, 4]
    s, rot, t = _similarity()
    pred_pts = apply_sim3(gt_pts, s, rot, t)
    # The same cameras in the prediction's frame: centre c -> s R c + t, world-to-camera R' = R_cam R^T.
    pred_ext = np.stack([np.concatenate([rot.T, -(rot.T @ apply_sim3(c, s, rot, t))[:, None]], 1) for c in centres])
    m = pointcloud_metrics(pred_pts, gt_pts, align="cameras", pred_extrinsics=pred_ext, gt_extrinsics=gt_ext)
    assert m["overall"] < 1e-9 and m["sim3_scale"] == pytest.approx(1 / s)
    with pytest.raises(ValueError, match="needs pred_extrinsics"):
        pointcloud_metrics(pred_pts, gt_pts, align="cameras")
