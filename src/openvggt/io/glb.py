"""A viewable ``scene.glb``: the coloured point cloud and one wire frustum per camera (needs trimesh).

glTF is y-up, while our world frame is OpenCV (y down, z forward); the scene is therefore rotated
by 180 degrees about x (``y -> -y``, ``z -> -z``) so that viewers show it upright. Use
``points.ply`` or the COLMAP model for the unrotated coordinates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from openvggt.geometry import camera_centers

__all__ = ["GLTF_FROM_OPENCV", "frustum_segments", "write_glb"]

GLTF_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


def frustum_segments(extrinsic: np.ndarray, intrinsic: np.ndarray, size: tuple[int, int], depth: float) -> np.ndarray:
    """``[8, 2, 3]`` world line segments of a camera pyramid ``depth`` deep (OpenCV w2c ``[3, 4]``, K, (w, h))."""
    w, h = size
    corners_px = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
    rays = corners_px @ np.linalg.inv(intrinsic).T  # [4, 3] z = 1
    rot, trans = extrinsic[:3, :3], extrinsic[:3, 3]
    centre = camera_centers(extrinsic)
    corners = (rays * depth - trans) @ rot  # R^T (X_cam - t), as rows
    segments = [(centre, c) for c in corners] + [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    return np.array(segments)


def write_glb(
    path: str | os.PathLike,
    points: np.ndarray,
    colors: np.ndarray,
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    sizes: list[tuple[int, int]],
    frustum_depth: float | None = None,
) -> Path:
    """Write ``points [P, 3]``, ``colors [P, 3]`` uint8 and frustums of ``extrinsics [S, 3, 4]`` (w2c), ``K [S, 3, 3]``.

    ``frustum_depth`` defaults to 5% of the scene's extent (camera centres and points).
    """
    import trimesh

    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    centres = camera_centers(np.asarray(extrinsics))
    if frustum_depth is None:
        both = np.concatenate([centres, points]) if len(points) else centres
        extent = float(np.linalg.norm(np.percentile(both, 95, axis=0) - np.percentile(both, 5, axis=0)))
        frustum_depth = 0.05 * extent if extent > 0 else 0.1
    scene = trimesh.Scene()
    if len(points):
        rgba = np.concatenate([colors.astype(np.uint8), np.full((len(points), 1), 255, np.uint8)], axis=1)
        scene.add_geometry(trimesh.PointCloud(points @ GLTF_FROM_OPENCV, colors=rgba), geom_name="points")
    for i, (e, k) in enumerate(zip(extrinsics, intrinsics)):
        segments = frustum_segments(e, k, sizes[i], frustum_depth) @ GLTF_FROM_OPENCV
        lines = trimesh.load_path(segments)
        lines.colors = np.tile(_camera_colour(i, len(extrinsics)), (len(lines.entities), 1))
        scene.add_geometry(lines, geom_name=f"camera_{i:04d}")
    path = Path(path)
    path.write_bytes(scene.export(file_type="glb"))
    return path


def _camera_colour(i: int, n: int) -> np.ndarray:
    """RGBA uint8 from blue (first camera) to red (last)."""
    a = i / max(n - 1, 1)
    return np.array([int(255 * a), 64, int(255 * (1 - a)), 255], dtype=np.uint8)
