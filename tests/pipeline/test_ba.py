"""Triangulation and bundle adjustment on synthetic scenes with known cameras."""

from __future__ import annotations

import numpy as np
import pytest

from openvggt.pipeline.ba import BAOptions, _anchor_first_camera, bundle_adjust_tracks, project, triangulate_tracks


def _look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera [3, 4] of a camera at ``centre`` looking at ``target`` (y down)."""
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(np.array([0.0, -1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z])
    return np.concatenate([rot, -(rot @ centre)[:, None]], axis=1)


def _rotate(extrinsic: np.ndarray, angle_deg: float, axis: np.ndarray) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(angle_deg)
    r = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k
    out = extrinsic.copy()
    out[:, :3] = r @ extrinsic[:, :3]
    out[:, 3] = r @ extrinsic[:, 3]
    return out


def _scene(rng: np.random.Generator, frames: int = 6, points: int = 300):
    angles = np.radians(np.linspace(-30, 30, frames))
    centres = np.stack([4 * np.sin(angles), 0.3 * rng.standard_normal(frames), -4 * np.cos(angles)], axis=1)
    extrinsics = np.stack([_look_at(c, np.zeros(3)) for c in centres])
    k = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    intrinsics = np.repeat(k[None], frames, axis=0)
    xyz = rng.uniform(-1, 1, size=(points, 3))
    return extrinsics, intrinsics, xyz


def _rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative-rotation error over camera pairs (gauge-free)."""
    worst = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            ra = a[i, :, :3] @ a[j, :, :3].T
            rb = b[i, :, :3] @ b[j, :, :3].T
            cos = np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1)
            worst = max(worst, float(np.degrees(np.arccos(cos))))
    return worst


def test_project_and_triangulate_round_trip():
    rng = np.random.default_rng(0)
    extrinsics, intrinsics, xyz = _scene(rng)
    xy, z = project(xyz, extrinsics, intrinsics)
    assert (z > 0).all()
    mask = np.ones(xy.shape[:2], bool)
    mask[2:, :50] = False  # tracks seen in two frames only must still triangulate
    points, ok = triangulate_tracks(extrinsics, intrinsics, xy, mask)
    assert ok.all()
    np.testing.assert_allclose(points, xyz, atol=1e-8)


def test_triangulate_needs_two_observations():
    rng = np.random.default_rng(1)
    extrinsics, intrinsics, xyz = _scene(rng, points=10)
    xy, _ = project(xyz, extrinsics, intrinsics)
    mask = np.zeros(xy.shape[:2], bool)
    mask[0] = True
    mask[1, :5] = True
    _, ok = triangulate_tracks(extrinsics, intrinsics, xy, mask)
    assert ok[:5].all() and not ok[5:].any()


@pytest.mark.parametrize("shared_camera", [False, True])
def test_bundle_adjustment_recovers_perturbed_cameras(shared_camera: bool):
    rng = np.random.default_rng(2)
    gt_e, gt_k, xyz = _scene(rng)
    xy, _ = project(xyz, gt_e, gt_k)
    xy = xy + rng.normal(0, 0.3, xy.shape)
    mask = rng.random(xy.shape[:2]) < 0.9
    noisy_e = np.stack(
        [gt_e[0]] + [_rotate(e, 1.0, rng.standard_normal(3)) for e in gt_e[1:]]
    )  # frame 0 stays the world frame, as for VGGT
    noisy_k = gt_k * np.array([[1.03, 1, 1], [1, 0.98, 1], [1, 1, 1]])
    colors = rng.integers(0, 255, (xyz.shape[0], 3), dtype=np.uint8)
    result = bundle_adjust_tracks(
        noisy_e, noisy_k, [(640, 480)] * len(gt_e), xy, mask, colors, np.ones(len(gt_e)),
        BAOptions(min_tri_angle=0.5), shared_camera=shared_camera,
    )  # fmt: skip
    # 1 degree of rotation noise is ~9 px here, beyond the final 4 px threshold: the first rounds must be looser
    assert result.stats["thresholds_model_px"][0] > 8 and result.stats["thresholds_model_px"][-1] == 4.0
    assert result.error_before > 2.0
    assert result.error_after < 0.6  # the pixel noise level, about 0.3 * sqrt(2) mean
    before, after = _rotation_error_deg(noisy_e, gt_e), _rotation_error_deg(result.extrinsics, gt_e)
    # one focal length per camera trades off against rotation in a narrow scene; a shared one does not
    assert after < (0.1 if shared_camera else 0.25) * before
    focal = result.intrinsics[:, [0, 1], [0, 1]]
    np.testing.assert_allclose(focal, 500.0, rtol=0.01)
    if shared_camera:
        np.testing.assert_allclose(result.intrinsics, result.intrinsics[:1].repeat(len(gt_e), 0))
    assert len(result.points) > 200 and len(result.obs_point) == len(result.obs_frame) == len(result.obs_xy)
    np.testing.assert_allclose(result.extrinsics[0], gt_e[0], atol=1e-12)  # VGGT's world frame is kept
    # observations are those of the kept tracks, at the tracked pixels
    assert np.isfinite(result.points).all()


def test_bundle_adjustment_fails_clearly_without_geometry():
    rng = np.random.default_rng(3)
    gt_e, gt_k, xyz = _scene(rng, points=50)
    xy = rng.uniform(0, 640, size=(len(gt_e), 50, 2))  # tracks that agree with no 3D point
    with pytest.raises(RuntimeError, match="(no track could be triangulated|only [0-9]+ tracks)"):
        bundle_adjust_tracks(
            gt_e, gt_k, [(640, 480)] * len(gt_e), xy, np.ones(xy.shape[:2], bool),
            np.zeros((50, 3), np.uint8), np.ones(len(gt_e)), BAOptions(max_reproj_error=0.5),
        )  # fmt: skip


def test_anchoring_undoes_a_rigid_motion_of_the_whole_scene():
    rng = np.random.default_rng(4)
    e, k, xyz = _scene(rng, points=20)
    r = _rotate(np.eye(3, 4), 25.0, np.array([0.3, 1.0, -0.2]))[:, :3]  # the world moves: X' = r X + t
    t = np.array([0.5, -1.0, 2.0])
    moved_e = np.concatenate([e[:, :, :3] @ r.T, (e[:, :, 3] - e[:, :, :3] @ r.T @ t)[..., None]], axis=2)
    moved_xyz = xyz @ r.T + t
    np.testing.assert_allclose(project(moved_xyz, moved_e, k)[0], project(xyz, e, k)[0], atol=1e-9)
    anchored_e, anchored_xyz = _anchor_first_camera(e[0], moved_e, moved_xyz)
    np.testing.assert_allclose(anchored_e, e, atol=1e-9)
    np.testing.assert_allclose(anchored_xyz, xyz, atol=1e-9)
