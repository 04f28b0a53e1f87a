"""Depth maps -> camera-frame and world-frame point maps (spec section 8.2).

Pixel grid: ``u`` is the column index ``0..W-1`` and ``v`` the row index ``0..H-1``, used as is
(no half-pixel offset), so ``X = (u - cx) d / fx``, ``Y = (v - cy) d / fy``, ``Z = d`` in the
OpenCV camera frame. Extrinsics are world-to-camera ``[R | t]``; world points are
``R^T (X_cam - t)``.

The numpy functions reproduce the official numerics by default: camera coordinates are rounded
to float32 (``cam_dtype=np.float32``) and the camera-to-world transform is float64. Pass
``cam_dtype=None`` to keep full float64 precision throughout. :func:`unproject_depth` is a
batched torch version that keeps the input dtype and device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .se3 import closed_form_inverse_se3

__all__ = [
    "depth_to_cam_coords",
    "depth_to_world_coords_points",
    "unproject_depth_map_to_point_map",
    "unproject_depth",
]

_DEFAULT_CAM_DTYPE = np.float32


def _as_numpy(array, name: str) -> np.ndarray:
    if isinstance(array, Tensor):
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")


def _check_intrinsic(intrinsic: np.ndarray) -> None:
    if intrinsic.shape != (3, 3):
        raise ValueError(f"expected a 3x3 intrinsic matrix, got shape {intrinsic.shape}")
    if intrinsic[0, 1] != 0 or intrinsic[1, 0] != 0:
        raise ValueError(f"intrinsics with skew are not supported (K[0,1]={intrinsic[0, 1]}, K[1,0]={intrinsic[1, 0]})")


def depth_to_cam_coords(depth, intrinsic, cam_dtype=_DEFAULT_CAM_DTYPE) -> np.ndarray:
    """Back-project a depth map into the camera frame.

    Args:
        depth: ``[H, W]`` z-depth (numpy or torch).
        intrinsic: ``[3, 3]`` pinhole matrix with zero skew.
        cam_dtype: output dtype; float32 as in the official code, ``None`` keeps the computed
            (float64 for float64 inputs) precision.

    Returns:
        ``[H, W, 3]`` camera-frame points ``(X, Y, Z)``.
    """
    depth = _as_numpy(depth, "depth")
    intrinsic = _as_numpy(intrinsic, "intrinsic")
    if depth.ndim != 2:
        raise ValueError(f"expected an [H, W] depth map, got shape {depth.shape}")
    _check_intrinsic(intrinsic)
    fx, fy, cx, cy = (np.float64(intrinsic[i, j]) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    height, width = depth.shape
    u, v = np.meshgrid(np.arange(width), np.arange(height))  # [H, W] column and row indices
    x = (u - cx) * depth / fx
    y = (v - cy) * depth / fy
    points = np.stack((x, y, depth), axis=-1)
    return points if cam_dtype is None else points.astype(cam_dtype)


def depth_to_world_coords_points(
    depth, extrinsic, intrinsic, eps: float = 1e-8, cam_dtype=_DEFAULT_CAM_DTYPE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-project a depth map into the world frame.

    Args:
        depth: ``[H, W]`` z-depth.
        extrinsic: ``[3, 4]`` (or ``[4, 4]``) world-to-camera transform.
        intrinsic: ``[3, 3]`` pinhole matrix with zero skew.
        eps: pixels with ``depth > eps`` are valid.
        cam_dtype: see :func:`depth_to_cam_coords`.

    Returns:
        world points ``[H, W, 3]``, camera points ``[H, W, 3]`` and the validity mask ``[H, W]``
        (bool). Invalid pixels are transformed too; use the mask to drop them.
    """
    depth = _as_numpy(depth, "depth")
    extrinsic = _as_numpy(extrinsic, "extrinsic")
    cam_points = depth_to_cam_coords(depth, intrinsic, cam_dtype=cam_dtype)
    cam_to_world = closed_form_inverse_se3(extrinsic[None])[0]  # [4, 4], float64
    world_points = cam_points @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
    return world_points, cam_points, depth > eps


def unproject_depth_map_to_point_map(depth_map, extrinsics, intrinsics, cam_dtype=_DEFAULT_CAM_DTYPE) -> np.ndarray:
    """World point maps of a sequence of depth maps.

    Args:
        depth_map: ``[S, H, W, 1]`` or ``[S, H, W]`` z-depth (numpy or torch).
        extrinsics: ``[S, 3, 4]`` world-to-camera.
        intrinsics: ``[S, 3, 3]``.
        cam_dtype: see :func:`depth_to_cam_coords`.

    Returns:
        ``[S, H, W, 3]`` numpy world points (float64 for float inputs).
    """
    depth_map = _as_numpy(depth_map, "depth_map")
    extrinsics = _as_numpy(extrinsics, "extrinsics")
    intrinsics = _as_numpy(intrinsics, "intrinsics")
    if depth_map.ndim == 4 and depth_map.shape[-1] == 1:
        depth_map = depth_map[..., 0]
    if depth_map.ndim != 3:
        raise ValueError(f"expected depth [S, H, W, 1] or [S, H, W], got shape {depth_map.shape}")
    frames = depth_map.shape[0]
    if extrinsics.shape[0] != frames or intrinsics.shape[0] != frames:
        raise ValueError(
            f"depth has {frames} frames but extrinsics/intrinsics have {extrinsics.shape[0]}/{intrinsics.shape[0]}"
        )
    points = [
        depth_to_world_coords_points(depth_map[i], extrinsics[i], intrinsics[i], cam_dtype=cam_dtype)[0]
        for i in range(frames)
    ]
    return np.stack(points, axis=0)


def unproject_depth(depth: Tensor, extrinsics: Tensor, intrinsics: Tensor) -> Tensor:
    """Batched torch back-projection, same pixel convention as the numpy functions.

    Args:
        depth: ``[..., H, W]`` or ``[..., H, W, 1]`` z-depth.
        extrinsics: ``[..., 3, 4]`` world-to-camera.
        intrinsics: ``[..., 3, 3]`` with zero skew (not checked here, to stay traceable).

    Returns:
        ``[..., H, W, 3]`` world points in the promoted dtype of the inputs.
    """
    if depth.shape[-1] == 1 and depth.dim() == extrinsics.dim() + 1:
        depth = depth[..., 0]
    dtype = torch.promote_types(torch.promote_types(depth.dtype, extrinsics.dtype), intrinsics.dtype)
    depth, extrinsics, intrinsics = depth.to(dtype), extrinsics.to(dtype), intrinsics.to(dtype)
    height, width = depth.shape[-2:]
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=depth.device),
        torch.arange(width, dtype=dtype, device=depth.device),
        indexing="ij",
    )  # [H, W] row and column indices
    k = intrinsics[..., None, None, :, :]  # [..., 1, 1, 3, 3]
    x = (u - k[..., 0, 2]) * depth / k[..., 0, 0]
    y = (v - k[..., 1, 2]) * depth / k[..., 1, 1]
    cam = torch.stack((x, y, depth), dim=-1)  # [..., H, W, 3] camera frame
    rot = extrinsics[..., None, None, :3, :3]
    trans = extrinsics[..., None, None, :3, 3]
    # X_world = R^T (X_cam - t), written per point as a row-vector product.
    return ((cam - trans)[..., None, :] @ rot)[..., 0, :]
