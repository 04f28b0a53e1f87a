"""``transforms.json`` in the nerfstudio / instant-ngp convention.

Per frame: ``transform_matrix`` is the 4x4 camera-to-world matrix of an OpenGL camera (x right,
y up, z backwards), i.e. our OpenCV world-to-camera extrinsics inverted and with the camera's y
and z axes negated; intrinsics are in pixels of the image file named by ``file_path``. The world
frame is left as it is (nerfstudio re-orients and re-centres on loading).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openvggt.geometry import closed_form_inverse_se3

__all__ = ["OPENCV_TO_OPENGL", "opencv_w2c_to_opengl_c2w", "transforms_dict", "write_transforms"]

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])  # flips the camera's y and z axes


def opencv_w2c_to_opengl_c2w(extrinsics: np.ndarray) -> np.ndarray:
    """``[..., 3, 4]`` OpenCV world-to-camera -> ``[..., 4, 4]`` OpenGL camera-to-world."""
    return closed_form_inverse_se3(np.asarray(extrinsics, dtype=np.float64)) @ OPENCV_TO_OPENGL


def transforms_dict(
    file_paths: Sequence[str],
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    ply_file_path: str | None = None,
) -> dict:
    """The JSON object: ``extrinsics [S, 3, 4]`` OpenCV w2c, ``intrinsics [S, 3, 3]``, sizes (w, h) per frame."""
    c2w = opencv_w2c_to_opengl_c2w(extrinsics)
    frames = []
    for i, path in enumerate(file_paths):
        k = intrinsics[i]
        frames.append(
            {
                "file_path": path,
                "transform_matrix": c2w[i].tolist(),
                "fl_x": float(k[0, 0]),
                "fl_y": float(k[1, 1]),
                "cx": float(k[0, 2]),
                "cy": float(k[1, 2]),
                "w": int(sizes[i][0]),
                "h": int(sizes[i][1]),
            }
        )
    out = {"camera_model": "OPENCV", "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}
    if ply_file_path is not None:
        out["ply_file_path"] = ply_file_path
    return out


def write_transforms(path: str | os.PathLike, *args, **kwargs) -> Path:
    """Write :func:`transforms_dict` to ``path``."""
    path = Path(path)
    path.write_text(json.dumps(transforms_dict(*args, **kwargs), indent=1))
    return path
