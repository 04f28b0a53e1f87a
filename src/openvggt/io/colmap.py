"""COLMAP sparse models as plain arrays, and a writer for COLMAP's binary format.

The binary layout (``cameras.bin``, ``images.bin``, ``points3D.bin``) is the one COLMAP documents
in "Output format"; COLMAP 3.12+ and pycolmap 4 read such a model and add a trivial rig and frame
per camera/image themselves. Writing it ourselves keeps ``reconstruct`` usable without pycolmap.

Conventions: OpenCV cameras, ``cam_from_world`` is world-to-camera ``[R | t]``; 2D points are in
COLMAP's pixel convention (origin at the top-left *corner* of the image, the centre of the first
pixel at ``(0.5, 0.5)``). Legend: M 2D points of an image, P 3D points, T track elements.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openvggt.geometry import mat_to_quat

__all__ = ["CAMERA_MODELS", "ColmapCamera", "ColmapImage", "ColmapModel", "rotmat_to_qvec", "write_model"]

# COLMAP model name -> (model id, parameter names)
CAMERA_MODELS: dict[str, tuple[int, tuple[str, ...]]] = {
    "SIMPLE_PINHOLE": (0, ("f", "cx", "cy")),
    "PINHOLE": (1, ("fx", "fy", "cx", "cy")),
}


@dataclass(frozen=True)
class ColmapCamera:
    camera_id: int
    model: str  # "PINHOLE" or "SIMPLE_PINHOLE"
    width: int
    height: int
    params: tuple[float, ...]  # PINHOLE: fx, fy, cx, cy; SIMPLE_PINHOLE: f, cx, cy (pixels)

    def __post_init__(self) -> None:
        if self.model not in CAMERA_MODELS:
            raise ValueError(f"unsupported camera model {self.model!r}; use one of {sorted(CAMERA_MODELS)}")
        if len(self.params) != len(CAMERA_MODELS[self.model][1]):
            raise ValueError(f"{self.model} takes {len(CAMERA_MODELS[self.model][1])} params, got {self.params}")

    @classmethod
    def from_matrix(cls, camera_id: int, model: str, width: int, height: int, k: np.ndarray) -> ColmapCamera:
        """Camera from a ``[3, 3]`` zero-skew matrix (SIMPLE_PINHOLE takes the mean focal length)."""
        fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
        params = (fx, fy, cx, cy) if model == "PINHOLE" else ((fx + fy) / 2, cx, cy)
        return cls(camera_id, model, int(width), int(height), params)

    def matrix(self) -> np.ndarray:
        """``[3, 3]`` intrinsics."""
        if self.model == "PINHOLE":
            fx, fy, cx, cy = self.params
        else:
            (fx, cx, cy), fy = self.params, self.params[0]
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@dataclass
class ColmapImage:
    image_id: int
    camera_id: int
    name: str  # path relative to the image folder, "/" separated
    cam_from_world: np.ndarray  # [3, 4] world-to-camera
    points2d: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [M, 2] corner-origin pixels
    point3d_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # [M] row of xyz, -1: none


@dataclass
class ColmapModel:
    """A sparse model. Tracks are stored flat: point ``p`` is seen at ``track_*[offsets[p]:offsets[p+1]]``."""

    cameras: list[ColmapCamera]
    images: list[ColmapImage]
    xyz: np.ndarray  # [P, 3] world points
    rgb: np.ndarray  # [P, 3] uint8
    error: np.ndarray  # [P] mean reprojection error in pixels
    track_offsets: np.ndarray  # [P + 1] int64
    track_image_ids: np.ndarray  # [T] int
    track_point2d_idx: np.ndarray  # [T] int, index into that image's points2d

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])


def rotmat_to_qvec(rotation: np.ndarray) -> np.ndarray:
    """``[3, 3]`` rotation -> unit quaternion ``(w, x, y, z)`` with ``w >= 0`` (COLMAP's order)."""
    import torch

    x, y, z, w = mat_to_quat(torch.as_tensor(np.asarray(rotation, dtype=np.float64))).numpy()
    return np.array([w, x, y, z])


# ---------------------------------------------------------------------------------------------- writing
def _cameras_bytes(cameras: list[ColmapCamera]) -> bytes:
    out = [struct.pack("<Q", len(cameras))]
    for cam in cameras:
        model_id = CAMERA_MODELS[cam.model][0]
        out.append(struct.pack("<iiQQ", cam.camera_id, model_id, cam.width, cam.height))
        out.append(np.asarray(cam.params, dtype="<f8").tobytes())
    return b"".join(out)


def _images_bytes(images: list[ColmapImage]) -> bytes:
    out = [struct.pack("<Q", len(images))]
    point2d = np.dtype([("xy", "<f8", 2), ("id", "<i8")])
    for img in images:
        pose = np.asarray(img.cam_from_world, dtype=np.float64)
        q, t = rotmat_to_qvec(pose[:3, :3]), pose[:3, 3]
        out.append(struct.pack("<i7di", img.image_id, *q, *t, img.camera_id))
        out.append(img.name.encode("utf-8") + b"\x00")
        idx = np.asarray(img.point3d_idx, dtype=np.int64)
        rows = np.zeros(len(idx), dtype=point2d)
        rows["xy"], rows["id"] = img.points2d, np.where(idx >= 0, idx + 1, -1)  # point ids are 1-based
        out.append(struct.pack("<Q", len(rows)) + rows.tobytes())
    return b"".join(out)


def _points_bytes(model: ColmapModel) -> bytes:
    n = model.num_points
    lengths = np.diff(model.track_offsets)
    header = np.dtype([("id", "<u8"), ("xyz", "<f8", 3), ("rgb", "u1", 3), ("error", "<f8"), ("len", "<u8")])
    rows = np.zeros(n, dtype=header)
    rows["id"], rows["xyz"], rows["rgb"] = np.arange(1, n + 1), model.xyz, model.rgb
    rows["error"], rows["len"] = model.error, lengths
    elements = np.stack([model.track_image_ids, model.track_point2d_idx], axis=-1).astype("<i4")  # [T, 2]
    out = [struct.pack("<Q", n)]
    for p in range(n):  # variable-length records: header, then the track
        out.append(rows[p : p + 1].tobytes())
        out.append(elements[model.track_offsets[p] : model.track_offsets[p + 1]].tobytes())
    return b"".join(out)


def _check(model: ColmapModel) -> None:
    camera_ids = {c.camera_id for c in model.cameras}
    for img in model.images:
        if img.camera_id not in camera_ids:
            raise ValueError(f"image {img.name!r} refers to unknown camera {img.camera_id}")
        if len(img.points2d) != len(img.point3d_idx):
            raise ValueError(f"image {img.name!r}: {len(img.points2d)} points2d but {len(img.point3d_idx)} indices")
    if model.track_offsets.shape != (model.num_points + 1,) or model.track_offsets[-1] != len(model.track_image_ids):
        raise ValueError("track_offsets do not match the number of points / track elements")


def write_model(model: ColmapModel, folder: str | os.PathLike) -> Path:
    """Write ``cameras.bin``, ``images.bin`` and ``points3D.bin`` into ``folder`` (created); 3D point ids are 1..P."""
    _check(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.bin").write_bytes(_cameras_bytes(model.cameras))
    (folder / "images.bin").write_bytes(_images_bytes(model.images))
    (folder / "points3D.bin").write_bytes(_points_bytes(model))
    return folder
