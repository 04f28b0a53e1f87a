"""Data for long sequences: the ``long_video`` family and cameras.json with per-frame depth PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from openvggt.data.readers import read_scene
from openvggt.data.synth.synthetic import SynthConfig, generate_scene


def test_long_video_revisits_and_renders_lazily():
    scene = generate_scene(0, 1, SynthConfig(num_frames=400, size=48, family="long_video", samples=1))
    assert scene.num_frames == 400 and scene.family == "long_video"
    centres = np.stack([c.centre for c in scene.cameras])
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert step.max() < 0.1  # small steps: consecutive frames overlap
    lap = np.linalg.norm(centres[:200] - centres[200:], axis=1)
    assert lap.max() < 0.6 and np.linalg.norm(centres[0] - centres[100]) > 1.0  # revisits, and a real loop
    image, depth = scene.render(399)
    assert image.shape[:2] == depth.shape and (depth > 0).mean() > 0.9


def test_cameras_json_depth_png_in_millimetres_and_tracked_rotations(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "depth").mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "images" / "0000.jpg")
    Image.fromarray(np.full((4, 6), 1500, np.uint16)).save(tmp_path / "depth" / "0000.png")
    r = np.eye(3) + 2e-4  # a tracked rotation, a little off orthonormal
    frame = {
        "file": "images/0000.jpg",
        "depth": "depth/0000.png",
        "width": 6,
        "height": 4,
        "K": [[5, 0, 3], [0, 5, 2], [0, 0, 1]],
        "R": r.tolist(),
        "t": [0, 0, 0],
    }
    (tmp_path / "cameras.json").write_text(json.dumps({"frames": [frame]}))
    scene = read_scene(tmp_path)
    np.testing.assert_allclose(scene.load_depth(0), 1.5)
    np.testing.assert_allclose(scene.R[0] @ scene.R[0].T, np.eye(3), atol=1e-12)
    frame["R"] = (np.eye(3) * 1.01).tolist()
    (tmp_path / "cameras.json").write_text(json.dumps({"frames": [frame]}))
    with pytest.raises(Exception, match="not a rotation"):
        read_scene(tmp_path)
