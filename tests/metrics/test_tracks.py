"""TAP-Vid metrics on a tiny hand-worked video."""

from __future__ import annotations

import numpy as np
import pytest

from openvggt.metrics import tapvid_metrics


def one_track():
    """One query at frame 0, three frames, reference always visible at (0, 0)."""
    query = np.array([[0.0, 0.0, 0.0]])  # (t, y, x)
    gt_occ = np.zeros((1, 3), bool)
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[0.0, 0.0], [1.5, 0.0], [0.0, 10.0]]])  # errors 0, 1.5, 10 px
    pred_occ = np.array([[False, False, True]])
    return query, gt_occ, gt, pred_occ, pred


def test_hand_worked_values():
    m = tapvid_metrics(*one_track())
    # Scored frames 1 and 2. Occlusion right in frame 1 only.
    assert m["occlusion_accuracy"] == pytest.approx(50.0)
    # Within 1: none; 2/4/8: frame 1; 16: both.
    assert [m[f"pts_within_{d}"] for d in (1, 2, 4, 8, 16)] == pytest.approx([0, 50, 50, 50, 100])
    assert m["delta_avg"] == pytest.approx(50.0)
    # Jaccard: d=1: TP 0, FP 1 (frame 1 visible but off) -> 0/3; d>=2: TP 1, FP 0 -> 1/2 (frame 2
    # is within 16 px but predicted occluded, so it is a miss, not a true positive).
    assert [m[f"jaccard_{d}"] for d in (1, 2, 4, 8, 16)] == pytest.approx([0, 50, 50, 50, 50])
    assert m["average_jaccard"] == pytest.approx(40.0)


def test_query_frame_is_not_scored_and_first_mode_scores_later_frames_only():
    query, gt_occ, gt, pred_occ, pred = one_track()
    pred_bad_query = pred.copy()
    pred_bad_query[0, 0] = [100.0, 100.0]
    pred_occ_bad = pred_occ.copy()
    pred_occ_bad[0, 0] = True
    ref = tapvid_metrics(query, gt_occ, gt, pred_occ, pred)
    assert tapvid_metrics(query, gt_occ, gt, pred_occ_bad, pred_bad_query) == ref
    # Query at frame 1 in "first" mode: only frame 2 (10 px off, predicted occluded) is scored.
    m = tapvid_metrics(np.array([1]), gt_occ, gt, pred_occ, pred, query_mode="first")
    assert m["occlusion_accuracy"] == 0.0 and m["pts_within_16"] == 100.0 and m["pts_within_8"] == 0.0
    with pytest.raises(ValueError, match="query_mode"):
        tapvid_metrics(query, gt_occ, gt, pred_occ, pred, query_mode="all")


def test_predicting_visible_where_reference_is_occluded_is_a_false_positive():
    query = np.array([[0.0, 0.0, 0.0]])
    gt_occ = np.array([[False, False, True]])
    gt = np.zeros((1, 3, 2))
    pred = np.zeros((1, 3, 2))
    pred_occ = np.zeros((1, 3), bool)
    m = tapvid_metrics(query, gt_occ, gt, pred_occ, pred)
    assert m["pts_within_1"] == 100.0  # position accuracy only looks at visible entries
    assert m["jaccard_1"] == pytest.approx(50.0)  # TP 1, FP 1
    assert m["occlusion_accuracy"] == pytest.approx(50.0)


def test_batch_average_and_rescaling():
    q, go, gt, po, pred = one_track()
    batched = tapvid_metrics(
        np.stack([q, q]), np.stack([go, go]), np.stack([gt, gt]), np.stack([po, ~po]), np.stack([pred, pred])
    )
    assert batched["occlusion_accuracy"] == pytest.approx(50.0)  # 50 % and 50 % per video
    # At 512x512 the 1.5 px error becomes 0.75 px at TAP-Vid's 256x256 and passes the 1 px bar.
    m = tapvid_metrics(q, go, gt, po, pred, image_size=(512, 512))
    assert m["pts_within_1"] == pytest.approx(50.0)


def test_shape_errors_are_reported():
    q, go, gt, po, pred = one_track()
    with pytest.raises(ValueError, match="expected occlusion"):
        tapvid_metrics(q, go, gt, po, pred[:, :2])
    with pytest.raises(ValueError, match="query"):
        tapvid_metrics(np.zeros((2, 3)), go, gt, po, pred)
