"""A point cloud downsampled into voxels as it arrives, with bounded memory.

Each occupied voxel keeps the sums of its points' positions, colours and confidences, their count, and one
observation (frame and pixel of the first point that landed in it) so that a COLMAP model can name where each
point was seen. When the number of voxels passes ``max_voxels`` the voxel size doubles and the cloud is
re-binned, so memory never grows past a fixed bound whatever the sequence length.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

_FIELDS = ("xyz", "rgb", "conf", "count", "frame", "pixel")


class VoxelCloud:
    def __init__(self, voxel: float | None = None, max_voxels: int = 2_000_000):
        self.voxel = voxel  # None: set from the first points (1/200 of their median distance to the origin)
        self.max_voxels = max_voxels
        self.keys = np.zeros(0, np.int64)
        self.xyz = np.zeros((0, 3), np.float32)  # sums (float32: 40 bytes per voxel in all)
        self.rgb = np.zeros((0, 3), np.float32)  # sums
        self.conf = np.zeros(0, np.float32)  # sums
        self.count = np.zeros(0, np.int32)
        self.frame = np.zeros(0, np.int32)  # first observation
        self.pixel = np.zeros((0, 2), np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    def _key(self, points: np.ndarray) -> np.ndarray:
        cell = np.floor(points / self.voxel).astype(np.int64) + (1 << 20)  # 21 bits per axis
        cell = np.clip(cell, 0, (1 << 21) - 1)
        return (cell[:, 0] << 42) | (cell[:, 1] << 21) | cell[:, 2]

    def add(
        self, points: np.ndarray, colors: np.ndarray, conf: np.ndarray, frame: np.ndarray, pixel: np.ndarray
    ) -> None:
        """Points ``[N, 3]`` with colours ``[N, 3]`` uint8, confidence ``[N]``, frame ``[N]``, pixel ``[N, 2]``."""
        if len(points) == 0:
            return
        points = np.asarray(points, np.float64)
        if self.voxel is None:
            self.voxel = max(float(np.median(np.linalg.norm(points, axis=1))) / 200.0, 1e-9)
        self._merge(self._key(points), points, colors, conf, np.ones(len(points), np.int32), frame, pixel)
        while len(self.keys) > self.max_voxels:
            self._coarsen()

    def _merge(self, keys, xyz, rgb, conf, count, frame, pixel) -> None:  # noqa: ANN001
        keys = np.concatenate([self.keys, keys])
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        n = len(uniq)

        def summed(old, add):  # noqa: ANN001, ANN202
            both = np.concatenate([old, np.asarray(add, old.dtype)])
            if both.ndim == 1:
                return np.bincount(inverse, weights=both, minlength=n).astype(old.dtype)
            columns = [np.bincount(inverse, weights=both[:, c], minlength=n) for c in range(both.shape[1])]
            return np.stack(columns, 1).astype(old.dtype)

        self.xyz, self.rgb, self.conf = summed(self.xyz, xyz), summed(self.rgb, rgb), summed(self.conf, conf)
        self.count = summed(self.count, count)
        self.frame = np.concatenate([self.frame, np.asarray(frame, np.int32)])[first]  # first index: old voxels win
        self.pixel = np.concatenate([self.pixel, np.asarray(pixel, np.float32)])[first]
        self.keys = uniq

    def _coarsen(self) -> None:
        self.voxel *= 2.0
        log.info("point cloud: %d voxels > %d, voxel size doubled to %.4g", len(self.keys), self.max_voxels, self.voxel)
        old = [getattr(self, f) for f in _FIELDS]
        centres = old[0] / old[3][:, None]
        self.keys = np.zeros(0, np.int64)
        for f in _FIELDS:
            setattr(self, f, getattr(self, f)[:0])
        self._merge(self._key(centres), *old)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean positions ``[V, 3]`` float32, mean colours ``[V, 3]`` uint8, mean confidence ``[V]``)."""
        c = np.maximum(self.count, 1)[:, None].astype(np.float64)
        return (
            (self.xyz / c).astype(np.float32),
            np.clip(np.round(self.rgb / c), 0, 255).astype(np.uint8),
            (self.conf / c[:, 0]).astype(np.float32),
        )
