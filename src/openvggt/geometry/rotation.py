"""Quaternion <-> rotation-matrix conversions (spec sections 5.4 and 5.5).

Quaternions are stored scalar-last, ``(x, y, z, w)``, and describe Hamilton active rotations:
the unit quaternion ``(a sin(phi/2), cos(phi/2))`` rotates by ``phi`` about the unit axis ``a``.
All functions accept any number of leading batch dimensions and keep the input dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["quat_to_mat", "mat_to_quat", "standardize_quaternion"]


def quat_to_mat(quat: Tensor) -> Tensor:
    """Rotation matrices from quaternions of any (non-zero) norm.

    Args:
        quat: ``[..., 4]`` quaternions ``(x, y, z, w)``; they are normalised implicitly.

    Returns:
        ``[..., 3, 3]`` rotation matrices (acting on column vectors).
    """
    if quat.shape[-1] != 4:
        raise ValueError(f"quat_to_mat expects [..., 4] quaternions, got shape {tuple(quat.shape)}")
    x, y, z, w = quat.unbind(-1)
    two_over_norm2 = 2.0 / (quat * quat).sum(-1)
    rows = (
        1 - two_over_norm2 * (y * y + z * z),
        two_over_norm2 * (x * y - z * w),
        two_over_norm2 * (x * z + y * w),
        two_over_norm2 * (x * y + z * w),
        1 - two_over_norm2 * (x * x + z * z),
        two_over_norm2 * (y * z - x * w),
        two_over_norm2 * (x * z - y * w),
        two_over_norm2 * (y * z + x * w),
        1 - two_over_norm2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(quat.shape[:-1] + (3, 3))


def _sqrt_positive(values: Tensor) -> Tensor:
    """sqrt(v) where v > 0 and 0 elsewhere, with finite gradients everywhere."""
    positive = values > 0
    safe = torch.where(positive, values, torch.ones_like(values))
    return torch.where(positive, safe.sqrt(), torch.zeros_like(values))


def standardize_quaternion(quat: Tensor) -> Tensor:
    """Flip ``[..., 4]`` (x, y, z, w) quaternions whose scalar part is negative (w = 0 is left alone)."""
    return torch.where(quat[..., 3:4] < 0, -quat, quat)


def mat_to_quat(rotmat: Tensor) -> Tensor:
    """Quaternions of rotation matrices, standardised to a non-negative scalar part.

    Uses the numerically stable "largest diagonal term" construction: four candidate
    quaternions are formed, each scaled by one of |w|, |x|, |y|, |z|, and the candidate whose
    scale is largest (first one on ties) is kept.

    Args:
        rotmat: ``[..., 3, 3]`` rotation matrices.

    Returns:
        ``[..., 4]`` unit quaternions ``(x, y, z, w)`` with ``w >= 0``.
    """
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError(f"mat_to_quat expects [..., 3, 3] matrices, got shape {tuple(rotmat.shape)}")
    batch_shape = rotmat.shape[:-2]
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = rotmat.reshape(batch_shape + (9,)).unbind(-1)

    # |w|, |x|, |y|, |z| (up to a factor 2) from the diagonal; order (w, x, y, z).
    abs_wxyz = _sqrt_positive(
        torch.stack(
            (
                1.0 + m00 + m11 + m22,
                1.0 + m00 - m11 - m22,
                1.0 - m00 + m11 - m22,
                1.0 - m00 - m11 + m22,
            ),
            dim=-1,
        )
    )
    aw, ax, ay, az = abs_wxyz.unbind(-1)
    # Candidate n is the quaternion (w, x, y, z) multiplied by 4 times its n-th component.
    candidates = torch.stack(
        (
            torch.stack((aw * aw, m21 - m12, m02 - m20, m10 - m01), dim=-1),
            torch.stack((m21 - m12, ax * ax, m10 + m01, m02 + m20), dim=-1),
            torch.stack((m02 - m20, m10 + m01, ay * ay, m12 + m21), dim=-1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, az * az), dim=-1),
        ),
        dim=-2,
    )  # [..., 4 candidates, 4 (w, x, y, z)]
    # The floor of 0.1 only guards candidates that are never selected against division by ~0.
    floor = torch.tensor(0.1, dtype=abs_wxyz.dtype, device=abs_wxyz.device)
    candidates = candidates / (2.0 * torch.maximum(abs_wxyz, floor))[..., None]

    best = abs_wxyz.argmax(dim=-1)  # first index on ties
    index = best[..., None, None].expand(batch_shape + (1, 4))
    wxyz = candidates.gather(-2, index).squeeze(-2)
    xyzw = torch.cat((wxyz[..., 1:], wxyz[..., :1]), dim=-1)
    return standardize_quaternion(xyzw)
