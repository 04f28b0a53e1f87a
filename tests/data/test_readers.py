"""Readers: round trips through every supported layout, and clear errors for bad scenes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from openvggt.data.readers import quat_xyzw_to_matrix, read_cameras_json, read_colmap, read_scene, read_tum
from openvggt.data.scene import SceneError
from tests.conftest import shared_path


def _copy(folder, tmp_path):
    dst = tmp_path / folder.name
    shutil.copytree(folder, dst)
    return dst


def test_synthetic_layout_round_trip(tiny_scenes, written_scenes):
    scene = read_scene(written_scenes[0])
    source = tiny_scenes["indoor"]
    assert scene.num_frames == source.num_frames and scene.has_depth
    for i, cam in enumerate(source.cameras):
        np.testing.assert_allclose(scene.K[i], cam.K)
        np.testing.assert_allclose(scene.R[i], cam.R)
        np.testing.assert_allclose(scene.t[i], cam.t)
        image, depth = source.render(i)
        np.testing.assert_array_equal(scene.load_image(i), image)
        np.testing.assert_array_equal(scene.load_depth(i), depth)
    assert scene.load_mask(0) is None


@pytest.mark.parametrize("name", ["fountain-P11", "Herz-Jesus-P8", "templeSparseRing", "tum-fr3-office"])
def test_shared_scenes_layout(name):
    root = shared_path("scenes", name)
    scene = read_scene(root)
    meta = json.loads((root / "cameras.json").read_text())
    assert scene.num_frames == len(meta["frames"]) and not scene.has_depth
    last = scene.num_frames - 1
    assert scene.load_image(last).shape == (meta["frames"][last]["height"], meta["frames"][last]["width"], 3)
    np.testing.assert_allclose(scene.t[last], meta["frames"][last]["t"])
    np.testing.assert_allclose(
        np.einsum("sij,skj->sik", scene.R, scene.R), np.broadcast_to(np.eye(3), scene.R.shape), atol=1e-4
    )


def _write_colmap(scene, folder, pixels_per_image: int = 40):
    """A COLMAP model of a synthetic scene: exact poses and 3D points at pixel centres of its depth."""
    import pycolmap

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    rec = pycolmap.Reconstruction()
    K = scene.cameras[0].K
    cam = pycolmap.Camera.create_from_model_name(1, "PINHOLE", K[0, 0], scene.cameras[0].width, scene.cameras[0].height)
    cam.params = [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]  # COLMAP: pixel centres at +0.5
    rec.add_camera_with_trivial_rig(cam)
    truth = {}
    for i, c in enumerate(scene.cameras):
        image, depth = scene.render(i)
        name = f"{i:04d}.png"
        Image.fromarray(image).save(folder / "images" / name)
        vs, us = np.nonzero(depth > 0)
        pick = rng.choice(len(vs), pixels_per_image, replace=False)
        v, u = vs[pick], us[pick]
        keypoints = np.stack([u + 0.5, v + 0.5], axis=1).astype(np.float64)
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(c.R), c.t)
        rec.add_image_with_trivial_frame(
            pycolmap.Image(name=name, keypoints=keypoints, camera_id=1, image_id=i + 1), pose
        )
        z = depth[v, u].astype(np.float64)
        pts = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1)
        for k, X in enumerate((pts - c.t) @ c.R):
            track = pycolmap.Track()
            track.add_element(i + 1, k)
            rec.add_point3D(X, track)
        truth[i] = (v, u, z)
    (folder / "sparse" / "0").mkdir(parents=True)
    rec.write(str(folder / "sparse" / "0"))
    return truth


def test_colmap_round_trip_with_sparse_depth(tmp_path, tiny_scenes):
    pytest.importorskip("pycolmap")
    source = tiny_scenes["object"]
    truth = _write_colmap(source, tmp_path / "colmap")
    scene = read_scene(tmp_path / "colmap")
    assert scene.num_frames == source.num_frames
    for i, cam in enumerate(source.cameras):
        np.testing.assert_allclose(scene.K[i], cam.K, atol=1e-9)
        np.testing.assert_allclose(scene.R[i], cam.R, atol=1e-9)
        np.testing.assert_allclose(scene.t[i], cam.t, atol=1e-9)
        depth = scene.load_depth(i)
        v, u, z = truth[i]
        np.testing.assert_allclose(depth[v, u], z, rtol=1e-5)
        assert (depth > 0).sum() == len(z)
        np.testing.assert_array_equal(scene.load_image(i), source.render(i)[0])


def _matrix_to_quat_xyzw(R):
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_quat()  # scalar-last


def _write_tum(scene, folder):
    folder.mkdir()
    (folder / "rgb").mkdir()
    (folder / "depth").mkdir()
    rgb, dep, gt = ["# color images"], ["# depth maps"], ["# timestamp tx ty tz qx qy qz qw"]
    for i, c in enumerate(scene.cameras):
        image, depth = scene.render(i)
        stamp = 100.0 + 0.1 * i
        Image.fromarray(image).save(folder / "rgb" / f"{stamp:.6f}.png")
        depth = np.where(depth < 13.0, depth, 0)  # 16-bit PNG at 1/5000 m: the Kinect range fits
        Image.fromarray(np.round(depth * 5000).astype(np.uint16)).save(folder / "depth" / f"{stamp:.6f}.png")
        rgb.append(f"{stamp:.6f} rgb/{stamp:.6f}.png")
        dep.append(f"{stamp + 0.004:.6f} depth/{stamp:.6f}.png")
        q = _matrix_to_quat_xyzw(c.R.T)
        gt.append(f"{stamp - 0.003:.4f} " + " ".join(f"{x:.9f}" for x in [*c.centre, *q]))
    gt.append(f"{stamp + 5:.4f} 0 0 0 0 0 0 1")  # a pose with no image: ignored
    for name, lines in (("rgb.txt", rgb), ("depth.txt", dep), ("groundtruth.txt", gt)):
        (folder / name).write_text("\n".join(lines) + "\n")


def test_tum_round_trip(tmp_path, tiny_scenes):
    source = tiny_scenes["video"]
    _write_tum(source, tmp_path / "tum")
    K = source.cameras[0].K
    scene = read_tum(tmp_path / "tum", intrinsics=(K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    assert scene.num_frames == source.num_frames
    for i, cam in enumerate(source.cameras):
        np.testing.assert_allclose(scene.R[i], cam.R, atol=1e-7)
        np.testing.assert_allclose(scene.t[i], cam.t, atol=1e-6)
        truth = source.render(i)[1]
        truth = np.where(truth < 13.0, truth, 0)
        np.testing.assert_allclose(scene.load_depth(i), truth, atol=0.5 / 5000 + 1e-6)
    assert read_scene(tmp_path / "tum").K[0, 0, 0] == 525.0  # no freiburg name: the ROS default


def test_quaternion_convention_is_xyzw():
    R = quat_xyzw_to_matrix(np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]))  # 90 deg about z
    np.testing.assert_allclose(R @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)


# ---------------------------------------------------------------------------------- bad scenes
def test_missing_image_names_the_file(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    (root / "images" / "0002.png").unlink()
    with pytest.raises(SceneError, match="0002.png"):
        read_scene(root)


def test_size_mismatch_names_the_image(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    Image.new("RGB", (7, 5)).save(root / "images" / "0001.png")
    with pytest.raises(SceneError, match=r"0001\.png.*7x5"):
        read_scene(root)


def test_depth_of_wrong_shape_names_the_file(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    np.save(root / "depth" / "0003.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(SceneError, match="0003.npy"):
        read_scene(root)


def test_broken_json_and_bad_rotation_name_cameras_json(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    meta = json.loads((root / "cameras.json").read_text())
    meta["frames"][1]["R"] = [[1, 0, 0], [0, 2, 0], [0, 0, 1]]
    (root / "cameras.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"cameras\.json: frame 1 R is not a rotation"):
        read_cameras_json(root)
    (root / "cameras.json").write_text("{not json")
    with pytest.raises(SceneError, match=r"cameras\.json: invalid JSON"):
        read_scene(root)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("height", "abc", r"frame 2 height must be a positive integer, got 'abc'"),
        ("width", 0, r"frame 2 width must be a positive integer"),
        ("K", [[0, 0, 10], [0, 50, 10], [0, 0, 1]], r"frame 2 K is not a pinhole matrix"),
        ("K", [[50, 0, 10], [0, 50, 10], [0, 1, 1]], r"frame 2 K is not a pinhole matrix"),
    ],
)
def test_bad_camera_values_name_cameras_json(tmp_path, written_scenes, key, value, message):
    root = _copy(written_scenes[0], tmp_path)
    meta = json.loads((root / "cameras.json").read_text())
    meta["frames"][2][key] = value
    (root / "cameras.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"cameras\.json: " + message):
        read_scene(root)


def test_frame_that_is_not_an_object_and_multichannel_depth(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    good = (root / "cameras.json").read_text()
    meta = json.loads(good)
    meta["frames"][1] = 5
    (root / "cameras.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"cameras\.json: frame 1 is not an object"):
        read_scene(root)
    (root / "cameras.json").write_text(good)
    shape = np.load(root / "depth" / "0001.npy").shape
    np.save(root / "depth" / "0001.npy", np.zeros((*shape, 3), np.float32))
    with pytest.raises(SceneError, match=r"0001\.npy: shape .*, expected \[H, W\]"):
        read_scene(root)


def test_missing_frame_key_and_unknown_layout(tmp_path, written_scenes):
    root = _copy(written_scenes[0], tmp_path)
    meta = json.loads((root / "cameras.json").read_text())
    del meta["frames"][0]["K"]
    (root / "cameras.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"frame 0 lacks \['K'\]"):
        read_scene(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SceneError, match="empty"):
        read_scene(tmp_path / "empty")


def test_tum_missing_groundtruth_names_the_file(tmp_path, tiny_scenes):
    _write_tum(tiny_scenes["video"], tmp_path / "tum")
    (tmp_path / "tum" / "groundtruth.txt").unlink()
    with pytest.raises(SceneError, match="groundtruth.txt"):
        read_scene(tmp_path / "tum")


def test_tum_bad_numbers_name_the_file_and_line(tmp_path, tiny_scenes):
    root = tmp_path / "tum"
    _write_tum(tiny_scenes["video"], root)
    rgb = (root / "rgb.txt").read_text()
    (root / "rgb.txt").write_text(rgb + "abc rgb/x.png\n")
    with pytest.raises(SceneError, match=r"rgb\.txt:6: non-numeric"):
        read_scene(root)
    (root / "rgb.txt").write_text(rgb)
    gt = (root / "groundtruth.txt").read_text().splitlines()
    fields = gt[2].split()
    (root / "groundtruth.txt").write_text("\n".join([*gt[:2], " ".join([fields[0], "nan", *fields[2:]]), *gt[3:]]))
    with pytest.raises(SceneError, match=r"groundtruth\.txt:3: non-numeric or non-finite"):
        read_scene(root)
    (root / "groundtruth.txt").write_text("\n".join([*gt[:2], " ".join([*fields[:4], "0", "0", "0", "0"]), *gt[3:]]))
    with pytest.raises(SceneError, match=r"groundtruth\.txt: a pose has a zero quaternion"):
        read_scene(root)


def test_colmap_missing_image_names_the_file(tmp_path, tiny_scenes):
    pytest.importorskip("pycolmap")
    _write_colmap(tiny_scenes["object"], tmp_path / "colmap", pixels_per_image=5)
    (tmp_path / "colmap" / "images" / "0001.png").unlink()
    with pytest.raises(SceneError, match="0001.png"):
        read_colmap(tmp_path / "colmap")


def test_depth_that_changes_size_after_reading_is_caught(tmp_path, written_scenes):
    """A lazily read file that no longer matches its camera is reported when it is loaded."""
    root = _copy(written_scenes[0], tmp_path)
    scene = read_scene(root)
    np.save(root / "depth" / "0000.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(SceneError, match="0000.npy"):
        scene.load_depth(0)
