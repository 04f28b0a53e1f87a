"""From pipeline arrays (cameras, points, observations) to a :class:`~openvggt.io.colmap.ColmapModel`.

Observations are given flat (``obs_point``, ``obs_frame``, ``obs_xy`` in original pixels, corner
origin); each becomes a 2D point of its image and an element of its 3D point's track. Legend:
S frames, P points, T observations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openvggt.io.colmap import ColmapCamera, ColmapImage, ColmapModel


def build_cameras(
    sizes: Sequence[tuple[int, int]], intrinsics: np.ndarray, camera_model: str, shared: bool
) -> tuple[list[ColmapCamera], list[int]]:
    """Cameras (one, or one per frame) and the camera id of every frame."""
    if shared:
        return [ColmapCamera.from_matrix(1, camera_model, *sizes[0], intrinsics[0])], [1] * len(sizes)
    cameras = [ColmapCamera.from_matrix(i + 1, camera_model, *sizes[i], intrinsics[i]) for i in range(len(sizes))]
    return cameras, [c.camera_id for c in cameras]


def point_errors(
    points: np.ndarray,
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    obs_point: np.ndarray,
    obs_frame: np.ndarray,
    obs_xy: np.ndarray,
) -> np.ndarray:
    """``[P]`` mean reprojection error (pixels) of each point over its observations."""
    cam = np.einsum("tij,tj->ti", extrinsics[obs_frame, :, :3], points[obs_point]) + extrinsics[obs_frame, :, 3]
    k = intrinsics[obs_frame]
    px = cam[:, :2] / np.maximum(cam[:, 2:], 1e-12) * k[:, [0, 1], [0, 1]] + k[:, :2, 2]
    err = np.linalg.norm(px - obs_xy, axis=-1)
    total = np.bincount(obs_point, weights=err, minlength=len(points))
    count = np.bincount(obs_point, minlength=len(points))
    return total / np.maximum(count, 1)


def build_model(
    names: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    points: np.ndarray,
    colors: np.ndarray,
    obs_point: np.ndarray,
    obs_frame: np.ndarray,
    obs_xy: np.ndarray,
    camera_model: str = "PINHOLE",
    shared_camera: bool = False,
) -> ColmapModel:
    """A complete model: every frame registered under ``names[i]`` with ``extrinsics [S, 3, 4]``,
    ``intrinsics [S, 3, 3]`` (original pixels), and ``points [P, 3]`` with their observations."""
    cameras, camera_ids = build_cameras(sizes, intrinsics, camera_model, shared_camera)
    obs_point, obs_frame = np.asarray(obs_point, np.int64), np.asarray(obs_frame, np.int64)
    by_frame = np.argsort(obs_frame, kind="stable")
    starts = np.searchsorted(obs_frame[by_frame], np.arange(len(names)))
    slot = np.empty(len(obs_frame), np.int64)  # index of each observation among its image's 2D points
    slot[by_frame] = np.arange(len(obs_frame)) - starts[obs_frame[by_frame]]
    images = []
    for i, name in enumerate(names):
        sel = by_frame[starts[i] : (starts[i + 1] if i + 1 < len(names) else len(by_frame))]
        images.append(ColmapImage(i + 1, camera_ids[i], name, np.asarray(extrinsics[i]), obs_xy[sel], obs_point[sel]))
    by_point = np.argsort(obs_point, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(obs_point, minlength=len(points)))]).astype(np.int64)
    k_used = np.stack([cameras[camera_ids[i] - 1].matrix() for i in range(len(names))])
    errors = point_errors(points, extrinsics, k_used, obs_point, obs_frame, obs_xy)
    return ColmapModel(
        cameras=cameras,
        images=images,
        xyz=np.asarray(points, np.float64),
        rgb=np.asarray(colors, np.uint8),
        error=errors,
        track_offsets=offsets,
        track_image_ids=obs_frame[by_point] + 1,
        track_point2d_idx=slot[by_point],
    )


__all__ = ["build_cameras", "build_model", "point_errors"]
