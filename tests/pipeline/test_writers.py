"""COLMAP binary, PLY, glTF and nerfstudio writers, read back with pycolmap and trimesh."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openvggt.geometry import quat_to_mat
from openvggt.io.colmap import ColmapCamera, ColmapImage, ColmapModel, rotmat_to_qvec, write_model
from openvggt.io.glb import GLTF_FROM_OPENCV, write_glb
from openvggt.io.nerfstudio import opencv_w2c_to_opengl_c2w, write_transforms
from openvggt.io.ply import write_ply


def _random_rotations(n: int, seed: int = 0) -> np.ndarray:
    q = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return quat_to_mat(q).numpy()


def test_rotmat_to_qvec_is_colmap_order_and_handles_half_turns():
    rots = np.concatenate([_random_rotations(50), np.diag([1.0, -1, -1])[None], np.diag([-1.0, -1, 1])[None]])
    for r in rots:
        wxyz = rotmat_to_qvec(r)
        assert wxyz[0] >= 0 and abs(np.linalg.norm(wxyz) - 1) < 1e-12
        np.testing.assert_allclose(quat_to_mat(torch.from_numpy(wxyz[[1, 2, 3, 0]])).numpy(), r, atol=1e-12)
    # a quarter turn about z: w = cos 45, z = sin 45, in (w, x, y, z) order
    quarter = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(rotmat_to_qvec(quarter), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-12)


def _model() -> ColmapModel:
    rots = _random_rotations(3, seed=1)
    poses = [np.concatenate([r, np.array([[0.1 * i], [0.2], [1.5]])], axis=1) for i, r in enumerate(rots)]
    cameras = [
        ColmapCamera(1, "PINHOLE", 640, 480, (500.0, 510.0, 320.0, 240.0)),
        ColmapCamera(2, "SIMPLE_PINHOLE", 480, 640, (400.0, 240.0, 320.0)),
    ]
    # point 0 seen by images 1 and 3, point 1 by image 2 only; image 3 also has an unmatched keypoint
    images = [
        ColmapImage(1, 1, "a.jpg", poses[0], np.array([[10.5, 20.5]]), np.array([0])),
        ColmapImage(2, 2, "sub/b.png", poses[1], np.array([[30.0, 40.0]]), np.array([1])),
        ColmapImage(3, 1, "c.jpg", poses[2], np.array([[1.0, 2.0], [50.0, 60.0]]), np.array([-1, 0])),
    ]
    return ColmapModel(
        cameras=cameras,
        images=images,
        xyz=np.array([[0.0, 0.1, 2.0], [1.0, -1.0, 3.0]]),
        rgb=np.array([[255, 0, 10], [1, 2, 3]], np.uint8),
        error=np.array([0.5, 0.0]),
        track_offsets=np.array([0, 2, 3]),
        track_image_ids=np.array([1, 3, 2]),
        track_point2d_idx=np.array([0, 1, 0]),
    )


def test_colmap_model_round_trips_through_pycolmap(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    model = _model()
    write_model(model, tmp_path / "sparse")
    rec = pycolmap.Reconstruction(str(tmp_path / "sparse"))
    assert rec.num_reg_images() == 3 and rec.num_points3D() == 2
    assert rec.cameras[1].model_name == "PINHOLE" and rec.cameras[2].model_name == "SIMPLE_PINHOLE"
    np.testing.assert_allclose(rec.cameras[1].params, [500, 510, 320, 240])
    assert (rec.cameras[2].width, rec.cameras[2].height) == (480, 640)
    for img in model.images:
        got = rec.images[img.image_id]
        assert got.name == img.name and got.camera_id == img.camera_id
        pose = got.cam_from_world() if callable(got.cam_from_world) else got.cam_from_world
        np.testing.assert_allclose(pose.matrix(), img.cam_from_world, atol=1e-12)
        np.testing.assert_allclose([p.xy for p in got.points2D], img.points2d)
    c = rec.images[3]
    assert not c.points2D[0].has_point3D() and c.points2D[1].has_point3D()
    pid = c.points2D[1].point3D_id
    point = rec.points3D[pid]
    np.testing.assert_allclose(point.xyz, [0.0, 0.1, 2.0])
    np.testing.assert_array_equal(point.color, [255, 0, 10])
    assert sorted((e.image_id, e.point2D_idx) for e in point.track.elements) == [(1, 0), (3, 1)]
    assert rec.images[1].points2D[0].point3D_id == pid


def test_colmap_writer_rejects_inconsistent_models(tmp_path):
    model = _model()
    model.images[0].camera_id = 9
    with pytest.raises(ValueError, match="unknown camera 9"):
        write_model(model, tmp_path)
    with pytest.raises(ValueError, match="PINHOLE takes 4 params"):
        ColmapCamera(1, "PINHOLE", 10, 10, (1.0, 2.0, 3.0))


def test_ply_loads_in_trimesh_with_colours_and_confidence(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    rng = np.random.default_rng(0)
    points = rng.normal(size=(100, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    conf = rng.random(100).astype(np.float32)
    write_ply(tmp_path / "p.ply", points, colors, {"confidence": conf})
    cloud = trimesh.load(tmp_path / "p.ply")
    np.testing.assert_allclose(cloud.vertices, points, rtol=1e-6)
    np.testing.assert_array_equal(cloud.colors[:, :3], colors)
    header = (tmp_path / "p.ply").read_bytes()[:400].decode("ascii", "ignore")
    assert "property float confidence" in header
    with pytest.raises(ValueError, match="non-finite"):
        write_ply(tmp_path / "bad.ply", np.full((2, 3), np.nan))


def test_transforms_json_cameras_are_opengl_camera_to_world(tmp_path):
    rots = _random_rotations(2, seed=3)
    w2c = np.stack([np.concatenate([r, np.array([[1.0], [2.0], [3.0]])], axis=1) for r in rots])
    k = np.array([[[300.0, 0, 160], [0, 310, 120], [0, 0, 1]]] * 2)
    write_transforms(tmp_path / "t.json", ["images/a.jpg", "images/b.jpg"], w2c, k, [(320, 240)] * 2, "points.ply")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["ply_file_path"] == "points.ply" and doc["frames"][1]["file_path"] == "images/b.jpg"
    for frame, e in zip(doc["frames"], w2c):
        c2w = np.array(frame["transform_matrix"])
        centre = -e[:, :3].T @ e[:, 3]
        np.testing.assert_allclose(c2w[:3, 3], centre, atol=1e-12)
        # OpenGL looks down -z: the GL camera's -z axis is the OpenCV camera's +z (optical axis) in the world
        np.testing.assert_allclose(-c2w[:3, 2], e[2, :3], atol=1e-12)
        np.testing.assert_allclose(-c2w[:3, 1], e[1, :3], atol=1e-12)  # GL y up = -OpenCV y (down)
        assert (frame["fl_x"], frame["fl_y"], frame["cx"], frame["w"]) == (300.0, 310.0, 160.0, 320)
    np.testing.assert_allclose(opencv_w2c_to_opengl_c2w(w2c)[:, 3], [[0, 0, 0, 1]] * 2)


def test_glb_holds_points_and_one_frustum_per_camera(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    rots = _random_rotations(3, seed=4)
    w2c = np.stack([np.concatenate([r, np.array([[0.0], [0.0], [2.0]])], axis=1) for r in rots])
    k = np.array([[[100.0, 0, 50], [0, 100, 40], [0, 0, 1]]] * 3)
    points = np.random.default_rng(0).normal(size=(51, 3))  # 51 x 3 uint8 colours: a view that needs padding
    colours = np.random.default_rng(1).integers(0, 256, (51, 3)).astype(np.uint8)
    write_glb(tmp_path / "s.glb", points, colours, w2c, k, [(100, 80)] * 3, frustum_depth=0.5)
    data = (tmp_path / "s.glb").read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[8:12], "little") == len(data) and len(data) % 4 == 0
    scene = trimesh.load(tmp_path / "s.glb")
    geoms = scene.geometry
    assert sorted(geoms) == ["camera_0000", "camera_0001", "camera_0002", "points"]
    np.testing.assert_allclose(geoms["points"].vertices, points @ GLTF_FROM_OPENCV, atol=1e-5)
    np.testing.assert_array_equal(geoms["points"].colors[:, :3], colours)
    # GL_LINES: 8 segments (4 edges to the apex, 4 of the base) of 2 vertices each
    assert all(len(geoms[f"camera_{i:04d}"].vertices) == 16 for i in range(3))
    # the frustum apex (shared by four edges) is the camera centre, in the flipped glTF frame
    for i, e in enumerate(w2c):
        verts = np.round(geoms[f"camera_{i:04d}"].vertices, 5)
        values, counts = np.unique(verts, axis=0, return_counts=True)
        apex = values[np.argmax(counts)]
        np.testing.assert_allclose(apex, (-e[:, :3].T @ e[:, 3]) @ GLTF_FROM_OPENCV, atol=1e-4)
