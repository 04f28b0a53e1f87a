"""The camera head's 9-D pose encoding ``absT_quaR_FoV`` (spec section 5).

Layout of the last dimension: ``[tx, ty, tz, qx, qy, qz, qw, fov_h, fov_w]`` where ``(t, q)`` is
the **world-to-camera** extrinsic ``X_cam = R X_world + t`` (OpenCV camera: x right, y down,
z forward), ``q`` its quaternion in ``xyzw`` order and ``fov_h`` / ``fov_w`` the vertical and
horizontal fields of view in radians. The principal point is not encoded; decoding puts it at
the exact image centre ``(W/2, H/2)``.

Dtypes: the official code casts the encoding to float32 and builds decoded intrinsics in the
default dtype. Here both keep the (promoted) input dtype, so float64 in gives float64 out; cast
with ``.float()`` to reproduce the official dtypes bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .rotation import mat_to_quat, quat_to_mat

__all__ = ["extri_intri_to_pose_encoding", "pose_encoding_to_extri_intri", "POSE_ENCODING_TYPES"]

POSE_ENCODING_TYPES = ("absT_quaR_FoV",)


def _check_type(pose_encoding_type: str) -> None:
    if pose_encoding_type not in POSE_ENCODING_TYPES:
        raise ValueError(
            f"unknown pose_encoding_type {pose_encoding_type!r}; supported: {', '.join(POSE_ENCODING_TYPES)}"
        )


def _image_hw(image_size_hw) -> tuple[float, float]:
    """(H, W) from a pair of ints, a tuple or a 2-element tensor."""
    if image_size_hw is None:
        raise ValueError("image_size_hw (H, W) is required to convert between focal length and FoV")
    values = [float(v) for v in (image_size_hw.tolist() if isinstance(image_size_hw, Tensor) else image_size_hw)]
    if len(values) != 2 or min(values) <= 0:
        raise ValueError(f"image_size_hw must be two positive numbers (H, W), got {image_size_hw!r}")
    return values[0], values[1]


def extri_intri_to_pose_encoding(
    extrinsics: Tensor,
    intrinsics: Tensor,
    image_size_hw,
    pose_encoding_type: str = "absT_quaR_FoV",
) -> Tensor:
    """Encode cameras as 9-vectors.

    Args:
        extrinsics: ``[..., 3, 4]`` world-to-camera ``[R | t]`` (OpenCV convention).
        intrinsics: ``[..., 3, 3]`` pinhole matrices in pixels of an ``H x W`` image; only
            ``fx = K[0, 0]`` and ``fy = K[1, 1]`` are used.
        image_size_hw: ``(H, W)`` of the image the intrinsics refer to.
        pose_encoding_type: only ``"absT_quaR_FoV"``.

    Returns:
        ``[..., 9]`` = ``[t (3), q xyzw (4), fov_h, fov_w]``, in the promoted input dtype.
    """
    _check_type(pose_encoding_type)
    if extrinsics.shape[-2:] != (3, 4) or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(
            f"expected extrinsics [..., 3, 4] and intrinsics [..., 3, 3], got "
            f"{tuple(extrinsics.shape)} and {tuple(intrinsics.shape)}"
        )
    height, width = _image_hw(image_size_hw)
    translation = extrinsics[..., :3, 3]
    quat = mat_to_quat(extrinsics[..., :3, :3])
    fov_h = 2 * torch.atan((height / 2) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((width / 2) / intrinsics[..., 0, 0])
    dtype = torch.promote_types(extrinsics.dtype, intrinsics.dtype)
    parts = (translation, quat, fov_h[..., None], fov_w[..., None])
    return torch.cat([p.to(dtype) for p in parts], dim=-1)


def pose_encoding_to_extri_intri(
    pose_encoding: Tensor,
    image_size_hw=None,
    pose_encoding_type: str = "absT_quaR_FoV",
    build_intrinsics: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Decode 9-vectors into camera matrices.

    Args:
        pose_encoding: ``[..., 9]`` as produced by :func:`extri_intri_to_pose_encoding` or the
            camera head; the quaternion need not be normalised.
        image_size_hw: ``(H, W)`` of the target image; required when ``build_intrinsics``.
        pose_encoding_type: only ``"absT_quaR_FoV"``.
        build_intrinsics: when False the second output is ``None``.

    Returns:
        extrinsics ``[..., 3, 4]`` world-to-camera ``[R | t]`` and intrinsics ``[..., 3, 3]``
        with ``fx = (W/2) / tan(fov_w/2)``, ``fy = (H/2) / tan(fov_h/2)``, principal point
        ``(W/2, H/2)``, zero skew; both in the dtype of ``pose_encoding``.
    """
    _check_type(pose_encoding_type)
    if pose_encoding.shape[-1] != 9:
        raise ValueError(f"expected a [..., 9] pose encoding, got shape {tuple(pose_encoding.shape)}")
    translation = pose_encoding[..., :3]
    rotation = quat_to_mat(pose_encoding[..., 3:7])
    extrinsics = torch.cat((rotation, translation[..., None]), dim=-1)
    if not build_intrinsics:
        return extrinsics, None

    height, width = _image_hw(image_size_hw)
    fy = (height / 2) / torch.tan(pose_encoding[..., 7] / 2)
    fx = (width / 2) / torch.tan(pose_encoding[..., 8] / 2)
    intrinsics = pose_encoding.new_zeros(pose_encoding.shape[:-1] + (3, 3))
    intrinsics[..., 0, 0] = fx
    intrinsics[..., 1, 1] = fy
    intrinsics[..., 0, 2] = width / 2
    intrinsics[..., 1, 2] = height / 2
    intrinsics[..., 2, 2] = 1.0
    return extrinsics, intrinsics
