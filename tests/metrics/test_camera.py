"""Camera metrics on cases whose answers can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openvggt.metrics import auc, camera_metrics, relative_pose_errors, summarize_pose_errors


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_axis(axis, deg: float) -> np.ndarray:
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    th = math.radians(deg)
    return np.eye(3) + math.sin(th) * k + (1 - math.cos(th)) * k @ k


def extr(rot: np.ndarray, t) -> np.ndarray:
    return np.concatenate([rot, np.asarray(t, float).reshape(3, 1)], axis=1)


def random_cameras(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rot = rot_axis(rng.normal(size=3), rng.uniform(0, 180))
        out.append(extr(rot, rng.normal(size=3) * 2))
    return np.stack(out)


def histogram_auc(errors: np.ndarray, t: int) -> float:
    """The histogram / cumulative-sum formulation of the published evaluation."""
    hist, _ = np.histogram(errors, bins=np.arange(t + 1))
    return float(100 * np.mean(np.cumsum(hist / len(errors))))


def test_identical_cameras_are_perfect():
    cams = random_cameras(6)
    m = camera_metrics(cams, cams)
    assert m["pairs"] == 15 and m["frames"] == 6 and m["registered"] == 6
    for key in ("auc30", "auc15", "auc5", "auc3", "rra5", "rta5", "rra30", "rta30"):
        assert m[key] == pytest.approx(100.0)


def test_invariant_to_a_global_similarity_of_the_prediction():
    gt = random_cameras(5, seed=1)
    q, u, s = rot_axis([1, 2, 3], 70), np.array([3.0, -1.0, 2.0]), 2.5
    # Same cameras in a world X' = s Q X + u: E' = [R Q^T | s t - R Q^T u].
    pred = np.stack([extr(e[:, :3] @ q.T, s * e[:, 3] - e[:, :3] @ q.T @ u) for e in gt])
    errs = relative_pose_errors(pred, gt)
    assert np.max(errs.rot_deg) < 1e-6 and np.max(errs.trans_deg) < 1e-6


def test_hand_computed_rotation_and_translation_errors():
    # Frame 1 is the identity, so the pair's relative pose is frame 0's extrinsic itself.
    gt = np.stack([extr(np.eye(3), [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    t20 = 5 * np.array([math.cos(math.radians(20.5)), math.sin(math.radians(20.5)), 0.0])
    pred = np.stack([extr(rot_z(10), t20), extr(np.eye(3), [0, 0, 0])])
    errs = relative_pose_errors(pred, gt)
    assert errs.rot_deg == pytest.approx([10.0], abs=1e-9)
    assert errs.trans_deg == pytest.approx([20.5], abs=1e-9)
    m = camera_metrics(pred, gt)
    assert m["auc30"] == pytest.approx(100 * 10 / 30)  # max error 20.5: thresholds 21..30 pass
    assert m["auc15"] == 0.0
    assert (m["rra5"], m["rra15"], m["rta15"], m["rta30"]) == (0.0, 100.0, 0.0, 100.0)


def test_relative_translation_is_camera_j_seen_from_camera_i():
    # Camera 1 keeps its centre (1, 0, 0) but is rotated 90 degrees in the prediction. Seen from
    # camera 0 (E_0 inv(E_1)) the baseline is unchanged, so the direction error is 0; the other
    # composition (E_1 inv(E_0)) would report 90 degrees.
    centre = np.array([1.0, 0.0, 0.0])
    gt = np.stack([extr(np.eye(3), [0, 0, 0]), extr(np.eye(3), -centre)])
    pred = np.stack([extr(np.eye(3), [0, 0, 0]), extr(rot_z(90), -rot_z(90) @ centre)])
    errs = relative_pose_errors(pred, gt)
    assert errs.rot_deg == pytest.approx([90.0])
    assert errs.trans_deg == pytest.approx([0.0], abs=1e-9)


@pytest.mark.parametrize(("angle", "signed", "unsigned"), [(180.0, 180.0, 0.0), (160.0, 160.0, 20.0)])
def test_translation_sign_conventions(angle, signed, unsigned):
    gt = np.stack([extr(np.eye(3), [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    pred = np.stack([extr(np.eye(3), rot_z(angle) @ [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    assert relative_pose_errors(pred, gt, translation="signed").trans_deg == pytest.approx([signed])
    assert relative_pose_errors(pred, gt, translation="unsigned").trans_deg == pytest.approx([unsigned])
    with pytest.raises(ValueError, match="translation"):
        relative_pose_errors(pred, gt, translation="folded")


def test_unregistered_frames_fail_every_pair_they_are_in():
    gt = random_cameras(4, seed=2)
    pred = gt.copy()
    pred[2] = np.nan  # a method that did not register frame 2 may leave garbage there
    m = camera_metrics(pred, gt, registered=[True, True, False, True])
    assert m["registered"] == 3 and m["pairs"] == 6
    assert m["auc30"] == pytest.approx(50.0)  # 3 of 6 pairs involve frame 2
    assert m["rra5"] == pytest.approx(50.0) and m["rta30"] == pytest.approx(50.0)
    # A NaN pose on a frame claimed as registered is a failure too (and not a crash).
    m2 = camera_metrics(pred, gt)
    assert m2["registered"] == 3 and m2["auc30"] == pytest.approx(50.0)


def test_zero_reference_baseline_uses_rotation_only():
    gt = np.stack([extr(np.eye(3), [0, 0, 0]), extr(rot_z(30), [0, 0, 0])])  # pure rotation
    pred = np.stack([extr(np.eye(3), [0, 0, 0]), extr(rot_z(34), [0.3, 0, 0])])
    errs = relative_pose_errors(pred, gt)
    assert np.isnan(errs.trans_deg[0])
    assert errs.max_deg == pytest.approx([4.0])
    m = summarize_pose_errors(errs)
    assert m["auc30"] == pytest.approx(100 * 26 / 30) and np.isnan(m["rta5"])


def test_zero_predicted_baseline_is_the_worst_direction():
    gt = np.stack([extr(np.eye(3), [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    pred = np.stack([extr(np.eye(3), [0, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    assert relative_pose_errors(pred, gt).trans_deg == pytest.approx([180.0])
    assert relative_pose_errors(pred, gt, translation="unsigned").trans_deg == pytest.approx([90.0])


def test_rotation_angle_is_accurate_near_0_and_180():
    gt = np.stack([extr(np.eye(3), [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
    for deg in (1e-5, 179.99):
        pred = np.stack([extr(rot_axis([1, 1, 0], deg), [1, 0, 0]), extr(np.eye(3), [0, 0, 0])])
        assert relative_pose_errors(pred, gt).rot_deg[0] == pytest.approx(deg, rel=1e-6)


def test_accepts_4x4_and_torch_inputs():
    gt = random_cameras(3, seed=3)
    pred = random_cameras(3, seed=4)
    ref = camera_metrics(pred, gt)
    bottom = np.tile(np.array([[[0, 0, 0, 1.0]]]), (3, 1, 1))
    homo = camera_metrics(np.concatenate([pred, bottom], 1), np.concatenate([gt, bottom], 1))
    tor = camera_metrics(torch.from_numpy(pred).float(), torch.from_numpy(gt))
    for key in ("auc30", "rra15", "rta15"):
        assert homo[key] == ref[key]
        assert tor[key] == pytest.approx(ref[key])


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="pred_extrinsics"):
        relative_pose_errors(np.zeros((3, 3, 3)), random_cameras(3))
    with pytest.raises(ValueError, match="same number"):
        relative_pose_errors(random_cameras(2), random_cameras(3))
    with pytest.raises(ValueError, match="registered"):
        relative_pose_errors(random_cameras(3), random_cameras(3), registered=[True, False])


def test_auc_hand_values_and_closed_last_bin():
    # 0.5 passes all 30 thresholds; 29.5 and exactly 30 only the last; 31 none.
    assert auc([0.5, 29.5, 30.0, 31.0], 30) == pytest.approx(100 * 32 / 120)
    assert auc([1.0], 3) == pytest.approx(100 * 2 / 3)  # 1 < 1 is false; 1 < 2, 1 <= 3
    assert auc([np.nan, 0.0], 5) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="max_threshold"):
        auc([1.0], 2.5)


@pytest.mark.parametrize("t", [3, 5, 30])
def test_auc_matches_histogram_formulation(t):
    rng = np.random.default_rng(t)
    errors = np.concatenate([rng.uniform(0, 40, 500), np.arange(0, 35, dtype=float)])  # exact integers too
    assert auc(errors, t) == pytest.approx(histogram_auc(errors, t), abs=1e-12)
