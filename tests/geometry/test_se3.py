"""Closed-form SE(3) inverse, camera centres and homogeneous padding, numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openvggt.geometry import camera_centers, closed_form_inverse_se3, quat_to_mat, to_homogeneous


def _random_se3(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rot = quat_to_mat(torch.randn(n, 4, generator=gen, dtype=torch.float64))
    trans = torch.randn(n, 3, 1, generator=gen, dtype=torch.float64) * 5
    return torch.cat((rot, trans), dim=-1)  # [n, 3, 4]


@pytest.mark.parametrize("rows", [3, 4])
def test_torch_inverse_is_the_inverse(rows):
    se3 = to_homogeneous(_random_se3(16))[:, :rows]
    inv = closed_form_inverse_se3(se3)
    assert inv.shape == (16, 4, 4) and inv.dtype == torch.float64
    eye = torch.eye(4, dtype=torch.float64).expand(16, 4, 4)
    torch.testing.assert_close(inv @ to_homogeneous(se3), eye, atol=1e-13, rtol=0)
    torch.testing.assert_close(inv, torch.linalg.inv(to_homogeneous(se3)), atol=1e-12, rtol=0)


def test_numpy_inverse_is_float64_and_exact():
    se3 = _random_se3(8, seed=1).numpy().astype(np.float32)
    inv = closed_form_inverse_se3(se3)
    assert isinstance(inv, np.ndarray) and inv.shape == (8, 4, 4) and inv.dtype == np.float64
    product = inv @ to_homogeneous(se3.astype(np.float64))
    np.testing.assert_allclose(product, np.broadcast_to(np.eye(4), (8, 4, 4)), atol=1e-6)


def test_torch_keeps_dtype_and_explicit_r_t_override():
    se3 = _random_se3(4, seed=2).float()
    assert closed_form_inverse_se3(se3).dtype == torch.float32
    other = _random_se3(4, seed=3).float()
    # R and T given explicitly win over the matrix's own blocks, with T as [N, 3] or [N, 3, 1].
    for trans in (other[:, :, 3], other[:, :, 3:]):
        inv = closed_form_inverse_se3(se3, R=other[:, :, :3], T=trans)
        torch.testing.assert_close(inv, closed_form_inverse_se3(other))


def test_leading_batch_dims():
    se3 = _random_se3(6, seed=4).reshape(2, 3, 3, 4)
    inv = closed_form_inverse_se3(se3)
    assert inv.shape == (2, 3, 4, 4)
    torch.testing.assert_close(inv.reshape(6, 4, 4), closed_form_inverse_se3(se3.reshape(6, 3, 4)))


def test_camera_centers_map_to_camera_origin():
    extrinsics = _random_se3(5, seed=5)
    centres = camera_centers(extrinsics)
    cam = (extrinsics[:, :, :3] @ centres[..., None] + extrinsics[:, :, 3:])[..., 0]
    torch.testing.assert_close(cam, torch.zeros(5, 3, dtype=torch.float64), atol=1e-13, rtol=0)
    np.testing.assert_allclose(camera_centers(extrinsics.numpy()), centres.numpy(), rtol=0, atol=1e-13)


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 4\]"):
        closed_form_inverse_se3(torch.zeros(2, 3, 3))
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        closed_form_inverse_se3([[0.0] * 4] * 3)
