"""VGGT as an evaluated method, with a tiny random model at a small input size."""

from __future__ import annotations

import numpy as np
import pytest

from openvggt.data.readers import read_scene
from openvggt.eval.runner import evaluate_scene
from openvggt.eval.vggt_method import VggtMethod, VggtOptions
from tests.eval.helpers import tiny_synthetic_scene, tiny_weights


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("vggt")
    return tiny_synthetic_scene(root / "scenes"), tiny_weights(root / "tiny.safetensors")


def test_vggt_prediction_shapes_and_grid(setup):
    scene_dir, weights = setup
    scene = read_scene(scene_dir)
    method = VggtMethod(VggtOptions(weights=str(weights), dtype="fp32", size=56))
    pred = method(list(scene.images))
    s = scene.num_frames
    assert pred.extrinsics.shape == (s, 3, 4) and pred.registered.all()
    h, w = scene.sizes[0]
    model_h = min(round(h * 56 / w / 14) * 14, 56)  # crop mode: width 56, height the nearest multiple of 14
    assert all(d.shape == (model_h, 56) for d in pred.depth)
    # The affine maps the original image's right edge onto the model grid's right edge.
    np.testing.assert_allclose(pred.depth_from_original[0] @ [w, h, 1.0], [56, pred.depth[0].shape[0], 1], atol=1e-6)
    assert pred.points.shape[1] == 3 and len(pred.points) > 0
    assert method.load_s > 0 and pred.info["load_s"] == pytest.approx(method.load_s, abs=1e-3)


def test_vggt_scene_row(setup):
    scene_dir, weights = setup
    row = evaluate_scene(scene_dir, VggtMethod(VggtOptions(weights=str(weights), size=56)))
    assert row["method"] == "vggt" and row["registered"] == row["frames"] == 4
    assert 0.0 <= row["auc30"] <= 100.0
    assert row["depth_pixels"] > 0 and np.isfinite(row["depth_abs_rel"])
    assert np.isfinite(row["pc_overall"])


def test_vggt_options_validate():
    with pytest.raises(ValueError, match="dtype"):
        VggtOptions(dtype="int4")
    with pytest.raises(ValueError, match="multiple of 14"):
        VggtOptions(size=50)
