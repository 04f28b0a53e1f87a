"""Evaluation runner: scoring a Prediction against a scene, depth resampling, failure accounting."""

from __future__ import annotations

import numpy as np
import pytest

from openvggt.data.readers import read_scene
from openvggt.eval.prediction import Prediction
from openvggt.eval.runner import (
    EvalOptions,
    _reference_points,
    _sample_reference,
    evaluate,
    evaluate_prediction,
    evaluate_scene,
    scene_fingerprint,
    summarize,
)
from tests.eval.helpers import tiny_synthetic_scene


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    return tiny_synthetic_scene(tmp_path_factory.mktemp("scenes"))


@pytest.fixture(scope="module")
def scene(scene_dir):
    return read_scene(scene_dir)


def _rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _similar_prediction(scene, scale=2.5, registered=None, depth_factor=None):
    """The reference cameras, depth and points expressed in another world frame (x' = s Q x + c)."""
    q, c = _rotation([1, 2, 3], 0.7), np.array([0.3, -1.0, 2.0])
    # x_cam = R x + t with x = Q^T (x' - c) / s  ->  in units scaled by s: R' = R Q^T, t' = s t - R Q^T c.
    rot = scene.R @ q.T
    trans = scale * scene.t - np.einsum("sij,j->si", rot, c)
    ext = np.concatenate([rot, trans[:, :, None]], axis=2)
    depth_factor = np.full(scene.num_frames, scale) if depth_factor is None else np.asarray(depth_factor)
    depth = tuple(scene.load_depth(i) * depth_factor[i] for i in range(scene.num_frames))
    points = scale * _reference_points(scene, 2) @ q.T + c
    reg = np.ones(scene.num_frames, bool) if registered is None else np.asarray(registered)
    ext = np.where(reg[:, None, None], ext, np.nan)
    return Prediction(extrinsics=ext, registered=reg, time_s=1.5, depth=depth, points=points)


def test_reference_in_another_frame_scores_perfectly(scene):
    row = evaluate_prediction(scene, _similar_prediction(scene))
    assert row["frames"] == row["registered"] == scene.num_frames
    for key in ("auc30", "auc5", "auc3", "rra15", "rta15", "auc30_unsigned"):
        assert row[key] == pytest.approx(100.0), key
    assert row["depth_abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert row["depth_delta125"] == pytest.approx(100.0)
    assert row["pc_accuracy"] < 1e-6 and row["pc_completeness"] < 1e-6
    assert row["time_s"] == 1.5


def test_unregistered_frame_fails_all_its_pairs(scene):
    # 4 frames, 6 pairs; frame 2 unregistered -> its 3 pairs fail at every threshold: AUC = 50.
    pred = _similar_prediction(scene, registered=[True, True, False, True])
    row = evaluate_prediction(scene, pred)
    assert row["registered"] == 3 and row["frames"] == 4
    assert row["auc30"] == pytest.approx(50.0)
    assert row["auc30_unsigned"] == pytest.approx(50.0)
    assert row["rra15"] == pytest.approx(50.0)
    assert row["depth_abs_rel"] == pytest.approx(0.0, abs=1e-6)  # depth of registered frames only


def test_too_few_registered_frames_skip_point_metrics(scene):
    row = evaluate_prediction(scene, _similar_prediction(scene, registered=[True, False, False, True]))
    assert row["auc30"] == pytest.approx(100.0 / 6)
    assert "pc_accuracy" not in row  # a Sim(3) needs three registered cameras


def test_scene_median_scaling_exposes_inconsistent_frame_scales(scene):
    # Per-frame depth scales differ: one median factor for the scene cannot undo that.
    pred = _similar_prediction(scene, depth_factor=[1.0, 1.0, 1.0, 3.0])
    row = evaluate_prediction(scene, pred)
    assert row["depth_abs_rel"] > 0.1
    per_frame = evaluate_prediction(scene, pred, EvalOptions(depth_align="median_per_frame"))
    assert per_frame["depth_abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_mirrored_translation_is_caught_by_signed_convention_only(scene):
    pred = _similar_prediction(scene)
    ext = pred.extrinsics.copy()
    ext[:, :, 3] *= -1  # every camera centre reflected through the origin: relative directions reversed
    row = evaluate_prediction(scene, Prediction(ext, pred.registered, 1.0))
    assert row["auc30_unsigned"] == pytest.approx(100.0)
    assert row["auc30"] == pytest.approx(0.0)


def test_sample_reference_follows_the_affine():
    ref = np.arange(1, 17, dtype=float).reshape(4, 4)
    half = np.diag([0.5, 0.5, 1.0])  # grid at half resolution: centre 0.5 -> original 1.0
    np.testing.assert_array_equal(_sample_reference(ref, (2, 2), half), ref[[1, 3]][:, [1, 3]])
    crop = np.array([[1.0, 0, 0], [0, 1.0, -1.0], [0, 0, 1]])  # top row cropped away
    out = _sample_reference(ref, (4, 4), crop)
    np.testing.assert_array_equal(out[:3], ref[1:])
    np.testing.assert_array_equal(out[3], 0.0)  # below the original image: invalid
    np.testing.assert_array_equal(_sample_reference(ref, (4, 4), None), ref)


def test_prediction_rejects_bad_shapes():
    with pytest.raises(ValueError, match="extrinsics"):
        Prediction(np.zeros((3, 4, 4)), np.ones(3, bool), 0.0)
    with pytest.raises(ValueError, match="registered"):
        Prediction(np.zeros((3, 3, 4)), np.ones(2, bool), 0.0)
    with pytest.raises(ValueError, match="depth"):
        Prediction(np.zeros((3, 3, 4)), np.ones(3, bool), 0.0, depth=(None,))


def test_evaluate_schema_and_summary(scene_dir, scene):
    class Oracle:
        name = "oracle"

        def __call__(self, paths, work_dir):
            assert [p.name for p in paths] == [p.name for p in scene.images]
            return _similar_prediction(scene, registered=[True, True, True, False])

    report = evaluate([scene_dir, scene_dir], [Oracle()], command="test")
    assert set(report) == {"results", "summary"}
    row = report["results"][0]
    for key in ("scene", "method", "frames", "registered", "auc30", "auc5", "auc3", "rra15", "rta15", "time_s"):
        assert key in row, key
    assert row["scene"] == scene.name and row["method"] == "oracle"
    summary = report["summary"]["oracle"]
    assert summary["scenes"] == 2 and summary["frames"] == 8 and summary["registered"] == 6
    assert summary["total_time_s"] == pytest.approx(3.0)
    assert summary["mean_auc30"] == pytest.approx(50.0)
    assert report["summary"]["meta"]["command"] == "test"


def test_summary_means_skip_missing_metrics():
    rows = [
        {"method": "m", "frames": 2, "registered": 2, "time_s": 1.0, "auc30": 80.0, "pc_accuracy": 0.5},
        {"method": "m", "frames": 2, "registered": 0, "time_s": 3.0, "auc30": 0.0},
    ]
    s = summarize(rows)["m"]
    assert s["mean_auc30"] == pytest.approx(40.0)
    assert s["mean_pc_accuracy"] == pytest.approx(0.5)
    assert s["mean_depth_abs_rel"] is None


def test_scene_fingerprint_changes_with_the_image_bytes(scene_dir, scene, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(scene_dir, copy)
    same = scene_fingerprint(copy, read_scene(copy))
    assert same == scene_fingerprint(scene_dir, scene) and len(same) == 16
    image = copy / "images" / "0002.png"
    image.write_bytes(image.read_bytes() + b"\0")
    assert scene_fingerprint(copy, read_scene(copy)) != same


def test_repeated_runs_keep_the_median_run_and_record_all(scene_dir, scene):
    masks = iter([[True] * 4, [True, False, False, True], [True, True, False, True]])  # AUC 100, 16.7, 50

    class Flaky:
        name = "flaky"

        def __call__(self, paths, work_dir):
            return _similar_prediction(scene, registered=next(masks))

    row = evaluate_scene(scene_dir, Flaky(), EvalOptions(repeat=3))
    assert row["runs"] == 3
    assert row["auc30_runs"] == pytest.approx([100.0, 100.0 / 6, 50.0])
    assert row["registered_runs"] == [4, 2, 3]
    assert row["auc30"] == pytest.approx(50.0) and row["registered"] == 3  # one consistent run
    with pytest.raises(ValueError, match="repeat"):
        EvalOptions(repeat=0)
