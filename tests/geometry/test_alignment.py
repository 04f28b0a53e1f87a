"""Umeyama Sim(3) estimation and camera-trajectory alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openvggt.geometry import Sim3, align_cameras_sim3, camera_centers, quat_to_mat, umeyama_alignment


def _known_sim3(seed: int = 0) -> tuple[float, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rot = quat_to_mat(torch.randn(4, generator=gen, dtype=torch.float64))
    return 2.5, rot, torch.tensor([1.0, -3.0, 0.5], dtype=torch.float64)


def test_recovers_exact_sim3_torch_and_numpy():
    scale, rot, trans = _known_sim3()
    src = torch.randn(30, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dst = scale * src @ rot.T + trans
    s, r, t = umeyama_alignment(src, dst)
    assert abs(float(s) - scale) < 1e-12
    torch.testing.assert_close(r, rot, atol=1e-12, rtol=0)
    torch.testing.assert_close(t, trans, atol=1e-12, rtol=0)
    s_np, r_np, t_np = umeyama_alignment(src.numpy(), dst.numpy())
    assert isinstance(s_np, float) and isinstance(r_np, np.ndarray)
    np.testing.assert_allclose(r_np, rot.numpy(), atol=1e-12)
    np.testing.assert_allclose(t_np, trans.numpy(), atol=1e-12)


def test_recovers_sim3_from_noisy_points():
    scale, rot, trans = _known_sim3(seed=2)
    gen = torch.Generator().manual_seed(3)
    src = torch.randn(2000, 3, generator=gen, dtype=torch.float64) * 2
    dst = scale * src @ rot.T + trans + 0.01 * torch.randn(2000, 3, generator=gen, dtype=torch.float64)
    s, r, t = umeyama_alignment(src, dst)
    angle = torch.arccos(((torch.trace(r.T @ rot) - 1) / 2).clamp(-1, 1))
    assert abs(float(s) - scale) / scale < 1e-3
    assert float(angle) < 1e-3
    assert float((t - trans).norm()) < 5e-3
    residual = (s * src @ r.T + t - dst).norm(dim=-1).pow(2).mean().sqrt()
    assert float(residual) < 0.01 * math.sqrt(3) * 1.1  # noise floor


def test_reflection_is_never_returned_and_rigid_mode():
    # A planar point set mirrored through its plane: best proper rotation, det = +1.
    src = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0], [2, 0.5, 0]], dtype=torch.float64)
    mirror = src * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    _, r, _ = umeyama_alignment(src, mirror)
    assert abs(float(torch.linalg.det(r)) - 1) < 1e-12
    scale, rot, trans = _known_sim3(seed=4)
    dst = scale * src @ rot.T + trans
    s, r, t = umeyama_alignment(src, dst, with_scale=False)
    assert float(s) == 1.0
    torch.testing.assert_close(r, rot, atol=1e-12, rtol=0)


def test_batched_point_sets():
    gen = torch.Generator().manual_seed(5)
    src = torch.randn(4, 10, 3, generator=gen, dtype=torch.float64)
    rots = quat_to_mat(torch.randn(4, 4, generator=gen, dtype=torch.float64))
    dst = src @ rots.transpose(-1, -2) * 0.5
    s, r, t = umeyama_alignment(src, dst)
    assert s.shape == (4,) and r.shape == (4, 3, 3) and t.shape == (4, 3)
    torch.testing.assert_close(r, rots, atol=1e-12, rtol=0)


def test_umeyama_errors():
    with pytest.raises(ValueError, match="at least 3"):
        umeyama_alignment(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="coincide"):
        umeyama_alignment(torch.ones(5, 3), torch.rand(5, 3))
    with pytest.raises(ValueError, match="matching"):
        umeyama_alignment(torch.ones(5, 3), torch.rand(4, 3))


def _trajectory(n: int, seed: int, collinear: bool = False) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rot = quat_to_mat(torch.randn(n, 4, generator=gen, dtype=torch.float64))
    centres = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    if collinear:
        centres = torch.linspace(0, 1, n, dtype=torch.float64)[:, None] * torch.tensor([1.0, 2.0, 0.5])
    trans = -(rot @ centres[..., None])  # t = -R c
    return torch.cat((rot, trans), dim=-1)  # [n, 3, 4] world-to-camera


@pytest.mark.parametrize(("n", "collinear"), [(6, False), (5, True), (2, False)])
def test_align_cameras_recovers_known_similarity(n, collinear):
    ref = _trajectory(n, seed=6, collinear=collinear)
    scale, rot, trans = _known_sim3(seed=7)
    # Predictions live in a world related to the reference by the inverse similarity.
    truth = Sim3(scale, rot, trans)
    inverse = Sim3(1 / scale, rot.T, -(rot.T @ trans) / scale)
    pred = inverse.transform_extrinsics(ref)
    torch.testing.assert_close(camera_centers(pred), inverse.transform_points(camera_centers(ref)))
    aligned, sim3 = align_cameras_sim3(pred, ref)
    torch.testing.assert_close(aligned, ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(sim3.rotation, truth.rotation, atol=1e-10, rtol=0)
    assert abs(float(sim3.scale) - scale) < 1e-10


def test_align_cameras_numpy_and_rigid():
    ref = _trajectory(5, seed=8)
    _, rot, trans = _known_sim3(seed=9)
    pred = Sim3(1.0, rot, trans).transform_extrinsics(ref)
    aligned, sim3 = align_cameras_sim3(pred.numpy(), ref.numpy(), with_scale=False, rotation_from="orientations")
    assert isinstance(aligned, np.ndarray) and sim3.scale == 1.0
    np.testing.assert_allclose(aligned, ref.numpy(), atol=1e-10)
    with pytest.raises(ValueError, match="rotation_from"):
        align_cameras_sim3(pred, ref, rotation_from="points")
