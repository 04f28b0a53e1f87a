"""Predictions of one chunk, in memory and on disk (one ``.npy`` per array, read back memory-mapped).

Conventions (as the model predicts them, in the chunk's own world = its first camera, arbitrary scale):
OpenCV cameras, ``extrinsics`` world-to-camera, ``intrinsics`` in model-input pixels with the origin at the
image's top-left *corner* (pixel ``(u, v)`` has its centre at ``(u + 0.5, v + 0.5)``). Legend: n frames of the
chunk, H x W model input.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARRAYS = ("depth", "conf", "valid", "images", "extrinsics", "intrinsics")


@dataclass
class ChunkPrediction:
    frames: np.ndarray  # [n] int64 frame indices in the sequence
    depth: np.ndarray  # [n, H, W] float32 z-depth, 0 where invalid
    conf: np.ndarray  # [n, H, W] float32 confidence (>= 1 for VGGT)
    valid: np.ndarray  # [n, H, W] bool: pixels that show the image (not padding)
    images: np.ndarray  # [n, H, W, 3] uint8 model input
    extrinsics: np.ndarray  # [n, 3, 4] float64 world-to-camera, chunk world
    intrinsics: np.ndarray  # [n, 3, 3] float64, model pixels, corner origin

    def select(self, frames) -> ChunkPrediction:  # noqa: ANN001 - iterable of frame indices
        """The rows of the given sequence frames, in that order (copies, so that the rest can be freed)."""
        where = {int(f): k for k, f in enumerate(self.frames)}
        rows = np.array([where[int(f)] for f in frames], np.int64)
        return ChunkPrediction(self.frames[rows].copy(), *(np.array(getattr(self, name)[rows]) for name in ARRAYS))

    def points(self, rows=None) -> np.ndarray:  # noqa: ANN001
        """``[n, H, W, 3]`` float64 world points of the chunk (depth through the cameras), or of ``rows``."""
        rows = slice(None) if rows is None else rows
        return unproject(self.depth[rows], self.extrinsics[rows], self.intrinsics[rows])


def unproject(depth: np.ndarray, extrinsics: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``depth [n, H, W]`` through ``extrinsics [n, 3, 4]`` (w2c), corner-origin ``intrinsics [n, 3, 3]``
    -> ``[n, H, W, 3]`` float64 world points of the pixel centres."""
    depth = np.asarray(depth, np.float64)
    h, w = depth.shape[-2:]
    v, u = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    k = np.asarray(intrinsics, np.float64)
    x = (u - k[:, None, None, 0, 2]) / k[:, None, None, 0, 0] * depth
    y = (v - k[:, None, None, 1, 2]) / k[:, None, None, 1, 1] * depth
    cam = np.stack((x, y, depth), axis=-1)  # [n, H, W, 3]
    rot, trans = extrinsics[:, :3, :3], extrinsics[:, :3, 3]
    return np.einsum("nhwi,nij->nhwj", cam - trans[:, None, None, :], rot)  # R^T (x - t)


class ChunkStore:
    """A folder with one sub-folder per finished chunk; a temporary one (deleted on close) by default."""

    def __init__(self, root: str | Path | None = None):
        self._tmp = root is None
        self.root = Path(tempfile.mkdtemp(prefix="openvggt-chunks-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, index: int) -> Path:
        return self.root / f"chunk_{index:05d}"

    def save(self, index: int, pred: ChunkPrediction) -> None:
        folder = self._dir(index)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "frames.npy", pred.frames)
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", getattr(pred, name))
        (folder / "done.json").write_text(json.dumps({"frames": len(pred.frames)}))

    def load(self, index: int, mmap: bool = True) -> ChunkPrediction:
        folder = self._dir(index)
        mode = "r" if mmap else None
        arrays = [np.load(folder / f"{name}.npy", mmap_mode=mode) for name in ARRAYS]
        return ChunkPrediction(np.load(folder / "frames.npy"), *arrays)

    def __contains__(self, index: int) -> bool:
        return (self._dir(index) / "done.json").is_file()

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ChunkStore:
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()
