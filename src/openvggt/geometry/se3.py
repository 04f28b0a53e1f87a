"""Rigid transforms ``[R | t]`` (spec section 8.1); numpy and torch.

A ``[..., 3, 4]`` or ``[..., 4, 4]`` matrix maps ``X -> R X + t``. Camera extrinsics in this
package are world-to-camera (OpenCV camera: x right, y down, z forward).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["closed_form_inverse_se3", "camera_centers", "to_homogeneous"]


def _check_se3_shape(shape: tuple[int, ...]) -> None:
    if len(shape) < 2 or shape[-2:] not in ((3, 4), (4, 4)):
        raise ValueError(f"expected [..., 3, 4] or [..., 4, 4] rigid transforms, got shape {tuple(shape)}")


def closed_form_inverse_se3(se3, R=None, T=None):
    """Invert rigid transforms without a general matrix inverse: ``[R | t]^-1 = [R^T | -R^T t]``.

    Args:
        se3: ``[..., 3, 4]`` or ``[..., 4, 4]`` numpy array or torch tensor.
        R: optional ``[..., 3, 3]`` rotations to use instead of ``se3[..., :3, :3]``.
        T: optional ``[..., 3, 1]`` (or ``[..., 3]``) translations instead of ``se3[..., :3, 3:]``.

    Returns:
        ``[..., 4, 4]`` inverses with bottom row ``(0, 0, 0, 1)``. Torch: same dtype and device as
        ``R``. Numpy: float64 (or wider), as in the official implementation.
    """
    if not isinstance(se3, (Tensor, np.ndarray)):
        raise TypeError(f"closed_form_inverse_se3 expects a numpy array or torch tensor, got {type(se3).__name__}")
    _check_se3_shape(tuple(se3.shape))
    return _inverse_torch(se3, R, T) if isinstance(se3, Tensor) else _inverse_numpy(se3, R, T)


def _inverse_torch(se3: Tensor, R: Tensor | None, T: Tensor | None) -> Tensor:
    R = se3[..., :3, :3] if R is None else R
    T = se3[..., :3, 3:] if T is None else T
    T = T[..., None] if T.shape[-1] == 3 and T.dim() == R.dim() - 1 else T
    rot_t = R.transpose(-1, -2)
    out = torch.zeros(R.shape[:-2] + (4, 4), dtype=R.dtype, device=R.device)
    out[..., :3, :3] = rot_t
    out[..., :3, 3:] = -(rot_t @ T.to(R.dtype))
    out[..., 3, 3] = 1.0
    return out


def _inverse_numpy(se3: np.ndarray, R: np.ndarray | None, T: np.ndarray | None) -> np.ndarray:
    R = se3[..., :3, :3] if R is None else np.asarray(R)
    T = se3[..., :3, 3:] if T is None else np.asarray(T)
    T = T[..., None] if T.shape[-1] == 3 and T.ndim == R.ndim - 1 else T
    rot_t = np.swapaxes(R, -1, -2)
    out = np.zeros(R.shape[:-2] + (4, 4), dtype=np.result_type(R.dtype, np.float64))
    out[..., :3, :3] = rot_t
    out[..., :3, 3:] = -(rot_t @ T)
    out[..., 3, 3] = 1.0
    return out


def camera_centers(extrinsics):
    """Camera centres in world coordinates, ``c = -R^T t``.

    Args:
        extrinsics: ``[..., 3, 4]`` or ``[..., 4, 4]`` world-to-camera, numpy or torch.

    Returns:
        ``[..., 3]`` of the same array type and dtype.
    """
    _check_se3_shape(tuple(extrinsics.shape))
    rot, trans = extrinsics[..., :3, :3], extrinsics[..., :3, 3:]
    rot_t = rot.transpose(-1, -2) if isinstance(rot, Tensor) else np.swapaxes(rot, -1, -2)
    return -(rot_t @ trans)[..., 0]


def to_homogeneous(extrinsics):
    """``[..., 3, 4]`` -> ``[..., 4, 4]`` by appending the row ``(0, 0, 0, 1)``; 4x4 input is returned."""
    _check_se3_shape(tuple(extrinsics.shape))
    if extrinsics.shape[-2] == 4:
        return extrinsics
    if isinstance(extrinsics, Tensor):
        bottom = extrinsics.new_zeros(extrinsics.shape[:-2] + (1, 4))
        bottom[..., 0, 3] = 1.0
        return torch.cat((extrinsics, bottom), dim=-2)
    bottom = np.zeros(extrinsics.shape[:-2] + (1, 4), dtype=extrinsics.dtype)
    bottom[..., 0, 3] = 1.0
    return np.concatenate((extrinsics, bottom), axis=-2)
