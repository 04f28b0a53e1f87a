"""A viewable ``scene.glb``: the coloured point cloud and one wire frustum per camera.

glTF is y-up, while our world frame is OpenCV (y down, z forward); the scene is therefore rotated
by 180 degrees about x (``y -> -y``, ``z -> -z``) so that viewers show it upright. Use
``points.ply`` or the COLMAP model for the unrotated coordinates.

The file is written here, as the PLY and COLMAP files are: a glTF 2.0 binary container (Khronos spec: a 12-byte
header, a JSON chunk, a binary chunk) with one ``POINTS`` primitive and one ``LINES`` primitive per camera, each with
per-vertex ``COLOR_0``. (trimesh wrote it before; importing it took ~0.5 s of every run.)
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from openvggt._version import __version__
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

    ``frustum_depth`` defaults to 5% of the scene's extent (camera centres and points). Nodes are named ``points``
    and ``camera_0000``, ``camera_0001``, ...
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    centres = camera_centers(np.asarray(extrinsics))
    if frustum_depth is None:
        both = np.concatenate([centres, points]) if len(points) else centres
        extent = float(np.linalg.norm(np.percentile(both, 95, axis=0) - np.percentile(both, 5, axis=0)))
        frustum_depth = 0.05 * extent if extent > 0 else 0.1
    gltf = _Gltf()
    if len(points):
        rgb = np.asarray(colors, np.uint8).reshape(-1, 3)
        rgba = np.concatenate([rgb, np.full((len(points), 1), 255, np.uint8)], axis=1)
        gltf.add("points", points @ GLTF_FROM_OPENCV, rgba, mode=0)
    for i, (e, k) in enumerate(zip(extrinsics, intrinsics)):
        segments = (frustum_segments(e, k, sizes[i], frustum_depth) @ GLTF_FROM_OPENCV).reshape(-1, 3)
        gltf.add(f"camera_{i:04d}", segments, np.tile(_camera_colour(i, len(extrinsics)), (len(segments), 1)), mode=1)
    path = Path(path)
    path.write_bytes(gltf.to_bytes())
    return path


_FLOAT, _UBYTE, _ARRAY_BUFFER = 5126, 5121, 34962  # glTF's componentType / bufferView target codes


class _Gltf:
    """Meshes of one primitive each (positions float32 VEC3, colours normalised uint8 VEC4), one node per mesh, one
    buffer; :meth:`to_bytes` gives the ``.glb`` file."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.offset = 0
        self.doc: dict = {
            "asset": {"version": "2.0", "generator": f"openvggt {__version__}"},
            "scene": 0,
            "scenes": [{"nodes": []}],
            "nodes": [],
            "meshes": [],
            "accessors": [],
            "bufferViews": [],
        }

    def _accessor(self, data: np.ndarray, component: int, kind: str, **extra: object) -> int:
        blob = np.ascontiguousarray(data).tobytes()
        self.doc["bufferViews"].append(
            {"buffer": 0, "byteOffset": self.offset, "byteLength": len(blob), "target": _ARRAY_BUFFER}
        )
        pad = -len(blob) % 4  # every view starts on a 4-byte boundary
        self.blobs.append(blob + b"\0" * pad)
        self.offset += len(blob) + pad
        self.doc["accessors"].append(
            {"bufferView": len(self.doc["bufferViews"]) - 1, "componentType": component, "count": len(data),
             "type": kind, **extra}
        )  # fmt: skip
        return len(self.doc["accessors"]) - 1

    def add(self, name: str, positions: np.ndarray, rgba: np.ndarray, mode: int) -> None:
        """A node ``name`` drawing ``positions [N, 3]`` coloured ``rgba [N, 4]`` uint8 as points (``mode`` 0) or as
        line segments between consecutive pairs (1)."""
        xyz = np.asarray(positions, np.float32)
        pos = self._accessor(xyz, _FLOAT, "VEC3", min=xyz.min(0).tolist(), max=xyz.max(0).tolist())
        col = self._accessor(np.asarray(rgba, np.uint8), _UBYTE, "VEC4", normalized=True)
        self.doc["meshes"].append({"name": name, "primitives": [{"attributes": {"POSITION": pos, "COLOR_0": col},
                                                                 "mode": mode}]})  # fmt: skip
        self.doc["nodes"].append({"name": name, "mesh": len(self.doc["meshes"]) - 1})
        self.doc["scenes"][0]["nodes"].append(len(self.doc["nodes"]) - 1)

    def to_bytes(self) -> bytes:
        binary = b"".join(self.blobs)
        doc = {**self.doc, "buffers": [{"byteLength": len(binary)}]}
        text = json.dumps(doc, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 4)  # the JSON chunk is padded with spaces, the binary one with zeros
        total = 12 + 8 + len(text) + 8 + len(binary)
        return b"".join([
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(text), b"JSON"), text,
            struct.pack("<I4s", len(binary), b"BIN\0"), binary,
        ])  # fmt: skip


def _camera_colour(i: int, n: int) -> np.ndarray:
    """RGBA uint8 from blue (first camera) to red (last)."""
    a = i / max(n - 1, 1)
    return np.array([int(255 * a), 64, int(255 * (1 - a)), 255], dtype=np.uint8)
