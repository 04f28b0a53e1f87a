"""World -> pixel projection and pixel -> normalised coordinates."""

from __future__ import annotations

import pytest
import torch

from openvggt.geometry import cam_from_img, project_world_points_to_cam, quat_to_mat


def _cameras(b: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    rot = quat_to_mat(torch.randn(b, 4, generator=gen, dtype=torch.float64))
    trans = torch.tensor([0.0, 0.0, 6.0], dtype=torch.float64).expand(b, 3)[..., None]
    intr = torch.tensor([[300.0, 0, 160], [0, 280, 120], [0, 0, 1]], dtype=torch.float64).repeat(b, 1, 1)
    intr[:, 0, 0] += torch.arange(b)
    return torch.cat((rot, trans), dim=-1), intr


def test_projection_matches_pinhole_formula():
    extrinsics, intrinsics = _cameras(3)
    points = torch.randn(20, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    pixels, cam = project_world_points_to_cam(points, extrinsics, intrinsics)
    assert pixels.shape == (3, 20, 2) and cam.shape == (3, 3, 20)
    for b in range(3):
        for n in (0, 7, 19):
            xc = extrinsics[b, :, :3] @ points[n] + extrinsics[b, :, 3]
            torch.testing.assert_close(cam[b, :, n], xc, atol=1e-13, rtol=0)
            u = intrinsics[b, 0, 0] * xc[0] / xc[2] + intrinsics[b, 0, 2]
            v = intrinsics[b, 1, 1] * xc[1] / xc[2] + intrinsics[b, 1, 2]
            torch.testing.assert_close(pixels[b, n], torch.stack((u, v)), atol=1e-10, rtol=0)


def test_cam_from_img_inverts_projection():
    extrinsics, intrinsics = _cameras(2, seed=2)
    points = torch.randn(10, 3, dtype=torch.float64)
    pixels, cam = project_world_points_to_cam(points, extrinsics, intrinsics)
    normalised = cam_from_img(pixels, intrinsics)
    torch.testing.assert_close(normalised, (cam[:, :2] / cam[:, 2:]).transpose(1, 2), atol=1e-13, rtol=0)


def test_nan_default_and_no_intrinsics():
    extrinsics = torch.eye(4)[:3][None]
    intrinsics = torch.eye(3)[None]
    points = torch.zeros(2, 3)
    points[1] = torch.tensor([1.0, 2.0, 4.0])
    pixels, cam = project_world_points_to_cam(points, extrinsics, intrinsics, default=-5.0)
    assert pixels[0, 0].tolist() == [-5.0, -5.0]  # 0/0 at the camera centre
    assert pixels[0, 1].tolist() == [0.25, 0.5]
    none, cam_only = project_world_points_to_cam(points, extrinsics)
    assert none is None and torch.equal(cam_only, cam)


def test_runs_outside_autocast():
    extrinsics, intrinsics = _cameras(1)
    points = torch.randn(5, 3, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pixels, cam = project_world_points_to_cam(points, extrinsics.float(), intrinsics.float())
    assert pixels.dtype == cam.dtype == torch.float32


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        project_world_points_to_cam(torch.zeros(4), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match=r"\[B, 3, 4\]"):
        project_world_points_to_cam(torch.zeros(4, 3), torch.zeros(3, 4))
