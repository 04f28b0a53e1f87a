"""World points -> pixels and pixels -> normalised camera coordinates (spec section 8.3).

Extrinsics are world-to-camera ``[R | t]`` (OpenCV camera: x right, y down, z forward);
intrinsics are zero-skew pinhole matrices in pixels. Lens distortion is not modelled.
Computation runs outside autocast in the promoted dtype of the inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["project_world_points_to_cam", "img_from_cam", "cam_from_img"]


def _no_autocast(tensor: Tensor):
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def project_world_points_to_cam(
    world_points: Tensor,
    extrinsics: Tensor,
    intrinsics: Tensor | None = None,
    default: float = 0.0,
) -> tuple[Tensor | None, Tensor]:
    """Project one set of world points into B cameras.

    Args:
        world_points: ``[N, 3]`` points in the world frame.
        extrinsics: ``[B, 3, 4]`` world-to-camera.
        intrinsics: ``[B, 3, 3]``; when ``None`` only camera points are computed.
        default: value written where the projection is NaN (e.g. ``0 / 0`` for a point at the
            camera centre).

    Returns:
        image points ``[B, N, 2]`` as ``(x, y)`` pixels (``None`` without intrinsics) and
        camera-frame points ``[B, 3, N]``.
    """
    if world_points.dim() != 2 or world_points.shape[-1] != 3:
        raise ValueError(f"expected world points [N, 3], got shape {tuple(world_points.shape)}")
    if extrinsics.dim() != 3 or extrinsics.shape[-2:] != (3, 4):
        raise ValueError(f"expected extrinsics [B, 3, 4], got shape {tuple(extrinsics.shape)}")
    with _no_autocast(world_points):
        dtype = torch.promote_types(world_points.dtype, extrinsics.dtype)
        rot = extrinsics[:, :, :3].to(dtype)  # [B, 3, 3]
        trans = extrinsics[:, :, 3:].to(dtype)  # [B, 3, 1]
        cam_points = rot @ world_points.to(dtype).T + trans  # [B, 3, N]
        if intrinsics is None:
            return None, cam_points
        return img_from_cam(intrinsics, cam_points, default=default), cam_points


def img_from_cam(intrinsics: Tensor, cam_points: Tensor, default: float = 0.0) -> Tensor:
    """Pixels of camera-frame points.

    Args:
        intrinsics: ``[B, 3, 3]``.
        cam_points: ``[B, 3, N]`` camera-frame points.
        default: replaces NaN results.

    Returns:
        ``[B, N, 2]`` pixel coordinates ``(x, y)``.
    """
    if intrinsics.dim() != 3 or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(f"expected intrinsics [B, 3, 3], got shape {tuple(intrinsics.shape)}")
    with _no_autocast(cam_points):
        dtype = torch.promote_types(cam_points.dtype, intrinsics.dtype)
        cam_points = cam_points.to(dtype)
        normalised = cam_points[:, :2] / cam_points[:, 2:3]  # [B, 2, N] = (X/Z, Y/Z)
        homogeneous = torch.cat((normalised, torch.ones_like(normalised[:, :1])), dim=1)  # [B, 3, N]
        pixels = (intrinsics.to(dtype) @ homogeneous)[:, :2].transpose(1, 2)  # [B, N, 2]
        return torch.where(torch.isnan(pixels), torch.full_like(pixels, default), pixels)


def cam_from_img(pixels: Tensor, intrinsics: Tensor) -> Tensor:
    """Normalised camera coordinates ``((x - cx) / fx, (y - cy) / fy)`` of pixels.

    Args:
        pixels: ``[B, N, 2]`` pixel coordinates ``(x, y)``.
        intrinsics: ``[B, 3, 3]``.

    Returns:
        ``[B, N, 2]`` coordinates on the ``Z = 1`` plane (skew ignored).
    """
    if pixels.shape[-1] != 2 or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(
            f"expected pixels [B, N, 2] and intrinsics [B, 3, 3], got {tuple(pixels.shape)} and "
            f"{tuple(intrinsics.shape)}"
        )
    focal = torch.stack((intrinsics[..., 0, 0], intrinsics[..., 1, 1]), dim=-1)[..., None, :]  # [B, 1, 2]
    principal = torch.stack((intrinsics[..., 0, 2], intrinsics[..., 1, 2]), dim=-1)[..., None, :]
    return (pixels - principal) / focal
