"""Quaternion <-> matrix conversions: spec reference numbers, fixture parity, round trips."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from openvggt.geometry import mat_to_quat, quat_to_mat
from tests.conftest import rel_err


def _axis_angle_quat(axis, angle: float) -> torch.Tensor:
    axis = torch.as_tensor(axis, dtype=torch.float64)
    axis = axis / axis.norm()
    return torch.cat((axis * math.sin(angle / 2), torch.tensor([math.cos(angle / 2)], dtype=torch.float64)))


def _random_quats(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def _hard_quats() -> torch.Tensor:
    """Rotations near and at 180 degrees (w ~ 0), along axes and off-axis, plus the identity."""
    quats = [
        _axis_angle_quat(axis, angle)
        for axis in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -2, 0.5])
        for angle in (math.pi, math.pi - 1e-9, math.pi + 1e-7, 1e-12)
    ]
    quats.append(torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))
    quats.append(torch.tensor([0.6, 0.8, 0.0, 0.0], dtype=torch.float64))  # w exactly 0, off-axis
    return torch.stack(quats)


def test_quat_to_mat_reference_values():
    # Appendix B, computed in float32 as in the spec.
    expected = torch.tensor(
        [
            [0.7263157, -0.5263158, 0.4421053],
            [0.6105264, 0.7894737, -0.0631579],
            [-0.3157895, 0.3157895, 0.8947368],
        ]
    )
    got = quat_to_mat(torch.tensor([0.1, 0.2, 0.3, 0.9]))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=2e-7, rtol=0)


def test_mat_to_quat_reference_values():
    rot = quat_to_mat(_axis_angle_quat([1, 2, 3], 0.7))
    expected = torch.tensor([0.0916433, 0.1832866, 0.2749299, 0.9393727], dtype=torch.float64)
    torch.testing.assert_close(mat_to_quat(rot), expected, atol=5e-8, rtol=0)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    assert mat_to_quat(flip).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_quat_to_mat_matches_axis_angle_and_is_orthonormal():
    # 90 degrees about z takes x to y.
    rot = quat_to_mat(_axis_angle_quat([0, 0, 1], math.pi / 2))
    torch.testing.assert_close(
        rot @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
        torch.tensor([0.0, 1, 0], dtype=torch.float64),
        atol=1e-15,
        rtol=0,
    )
    rots = quat_to_mat(_random_quats(64) * 3.7)  # any norm
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    torch.testing.assert_close(rots @ rots.transpose(-1, -2), eye, atol=1e-14, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rots), torch.ones(64, dtype=torch.float64), atol=1e-14, rtol=0)


def test_fixture_parity(parity_dir):
    ref = load_file(str(parity_dir / "geometry.safetensors"))
    ours_mat = quat_to_mat(ref["quat"])
    ours_quat = mat_to_quat(ref["rotmat"])
    assert ours_mat.dtype == ours_quat.dtype == torch.float64
    assert rel_err(ours_mat, ref["rotmat"]) < 1e-9
    assert rel_err(ours_quat, ref["quat_from_rotmat"]) < 1e-9


@pytest.mark.parametrize("kind", ["random", "hard"])
def test_round_trip(kind):
    quats = _random_quats(500, seed=3) if kind == "random" else _hard_quats()
    rots = quat_to_mat(quats)
    back = mat_to_quat(rots)
    assert (back[..., 3] >= 0).all()
    torch.testing.assert_close(back.norm(dim=-1), torch.ones(len(quats), dtype=torch.float64), atol=1e-12, rtol=0)
    # q and -q are the same rotation; with w = 0 either sign is acceptable.
    err = torch.minimum((back - quats).abs().amax(-1), (back + quats).abs().amax(-1))
    assert float(err.max()) < 1e-12
    torch.testing.assert_close(quat_to_mat(back), rots, atol=1e-12, rtol=0)


def test_standardisation_flips_negative_scalar_part():
    quat = torch.tensor([0.1, -0.2, 0.3, -0.9], dtype=torch.float64)
    back = mat_to_quat(quat_to_mat(quat))
    torch.testing.assert_close(back, -quat / quat.norm(), atol=1e-15, rtol=0)


def test_batch_shapes_and_finite_gradients():
    quats = _random_quats(6, seed=1).reshape(2, 3, 4)
    rots = quat_to_mat(quats)
    assert rots.shape == (2, 3, 3, 3)
    assert mat_to_quat(rots).shape == (2, 3, 4)
    # The identity and a half turn have non-positive diagonal terms under the square roots.
    special = torch.stack((torch.eye(3, dtype=torch.float64), torch.diag(torch.tensor([1.0, -1.0, -1.0]))))
    special = special.double().requires_grad_(True)
    mat_to_quat(special).sum().backward()
    assert torch.isfinite(special.grad).all()


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
        quat_to_mat(torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        mat_to_quat(torch.zeros(3, 4))
