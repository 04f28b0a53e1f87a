"""Reading a reconstruct folder back, and choosing the points a viewer shows."""

from __future__ import annotations

import numpy as np
import pytest

from openvggt.errors import InputError
from openvggt.viz.scene import load_scene
from tests.viz.conftest import synthetic_scene


def _read_ply_xyz(path) -> np.ndarray:
    data = path.read_bytes()
    head, body = data.split(b"end_header\n", 1)
    n = int(head.split(b"element vertex ")[1].split(b"\n")[0])
    rows = np.frombuffer(body, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"),
                                      ("b", "u1"), ("c", "<f4")], count=n)  # fmt: skip
    return np.stack([rows["x"], rows["y"], rows["z"]], -1)


def test_load_scene_reads_what_reconstruct_wrote(tiny_output):
    scene = load_scene(tiny_output)
    assert scene.num_frames == 4 and scene.names[0] == "fountain_0000.jpg"
    assert scene.images.shape[1:3] == scene.depth.shape[1:] == scene.image_hw
    assert scene.has_point_map and not scene.has_ba and scene.ba_summary is None
    # the same percentile rule as the pipeline: the point-head cloud equals points.ply
    points, colors = scene.select("point", 50.0)
    ply = _read_ply_xyz(tiny_output / "points.ply")
    assert len(points) == len(ply) and len(colors) == len(points)
    np.testing.assert_allclose(np.sort(points, axis=0), np.sort(ply, axis=0), atol=1e-6)


def test_depth_points_lie_on_the_plane_in_front_of_each_camera():
    scene = synthetic_scene()
    points, _ = scene.select("depth", 0.0)
    assert len(points) == 3 * 14 * 21
    np.testing.assert_allclose(points[:, 2], 2.0, atol=1e-5)
    # frame 2's camera sits at x = 0.2 (t = -R c), so its points are centred there
    only2, _ = scene.select("depth", 0.0, frames=(2, 2))
    assert abs(only2[:, 0].mean() - 0.2) < 0.03


def test_select_filters_by_confidence_frames_and_count():
    scene = synthetic_scene()
    everything = len(scene.select("depth", 0.0)[0])
    assert len(scene.select("depth", 90.0)[0]) < 0.15 * everything
    assert len(scene.select("depth", 0.0, frames=(1, 1))[0]) == everything // 3
    assert len(scene.select("depth", 0.0, frames=(2, 1))[0]) == 0
    assert len(scene.select("depth", 0.0, max_points=100)[0]) == 100
    assert len(scene.select("point", 0.0)[0]) == everything
    scene.valid[0] = False
    assert len(scene.select("depth", 0.0)[0]) == 2 * everything // 3


def test_cameras_before_ba_move_the_depth_points():
    scene = synthetic_scene()
    after, _ = scene.select("depth", 0.0)
    before, _ = scene.select("depth", 0.0, before_ba=True)
    np.testing.assert_allclose(before[:, 1] - after[:, 1], -0.05, atol=1e-5)  # pred t_y + 0.05: centre y - 0.05


def test_bad_selection_arguments():
    scene = synthetic_scene()
    with pytest.raises(InputError, match="point source"):
        scene.select("mesh")
    with pytest.raises(InputError, match="percentile"):
        scene.select("depth", 100.0)
    scene.world_points = None
    with pytest.raises(InputError, match="no point-head"):
        scene.select("point")


def test_load_scene_bad_folders(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        load_scene(tmp_path / "missing")
    with pytest.raises(InputError, match="no predictions.npz"):
        load_scene(tmp_path)
    (tmp_path / "predictions.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="unreadable"):
        load_scene(tmp_path)
    np.savez(tmp_path / "predictions.npz", images=np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="no 'depth'"):
        load_scene(tmp_path)


def test_chunked_output_is_read_from_cameras_and_the_point_cloud(chunked_output):
    from openvggt.viz.scene import read_ply

    scene = load_scene(chunked_output)
    assert scene.is_chunked and scene.num_frames == 4 and scene.images is None
    assert scene.image_hw == (346, 518)  # original pixels: the intrinsics are the original ones
    assert sorted(scene.thumbs) == [0, 1, 2, 3] and scene.frame_image(2).shape[1] == 128
    points, colors, conf = read_ply(chunked_output / "points.ply")
    selected, selected_colors = scene.select("depth", 0.0)
    np.testing.assert_array_equal(selected, points)
    np.testing.assert_array_equal(selected_colors, colors)
    assert conf is not None and len(scene.select("depth", 90.0)[0]) <= len(points)
    with pytest.raises(InputError, match="fused point cloud"):
        scene.select("point")


def test_long_sequences_draw_a_bounded_number_of_frustums():
    from openvggt.viz.scene import MAX_FRUSTUMS

    scene = synthetic_scene(frames=3)
    assert scene.frustum_frames() == [0, 1, 2]
    scene.names = [f"f{i}" for i in range(1001)]
    frames = scene.frustum_frames()
    assert len(frames) <= MAX_FRUSTUMS + 1 and frames[0] == 0 and frames[-1] == 1000


def test_read_ply_rejects_other_files(tmp_path):
    from openvggt.viz.scene import read_ply

    (tmp_path / "a.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    with pytest.raises(InputError, match="ascii"):
        read_ply(tmp_path / "a.ply")
    (tmp_path / "b.ply").write_bytes(b"not a ply")
    with pytest.raises(InputError, match="not a PLY"):
        read_ply(tmp_path / "b.ply")
