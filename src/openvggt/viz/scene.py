"""A reconstruction as the viewers see it: read back from a ``reconstruct`` output folder.

Everything comes from ``predictions.npz`` (model input images, depth, confidence, cameras, the
point map when the point head ran) and ``run.json`` (whether bundle adjustment ran); nothing is
recomputed by a model. Conventions are the pipeline's: OpenCV cameras (x right, y down, z
forward), extrinsics world-to-camera ``[S, 3, 4]``, intrinsics in model-input pixels with the
origin at the image's top-left corner. Legend: S frames, H x W model input, P points.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from openvggt.errors import InputError

log = logging.getLogger(__name__)

SOURCES = ("depth", "point")  # points from depth + cameras, or from the point head


@dataclass
class ViewerScene:
    """Arrays a viewer needs (numpy, see the module docstring for conventions)."""

    names: list[str]
    images: np.ndarray  # [S, H, W, 3] uint8 model input
    depth: np.ndarray  # [S, H, W] z-depth, 0 outside the image footprint
    depth_conf: np.ndarray  # [S, H, W]
    valid: np.ndarray  # [S, H, W] bool, pixels that show the image
    extrinsics: np.ndarray  # [S, 3, 4] world-to-camera, final (after BA when it ran)
    intrinsics: np.ndarray  # [S, 3, 3] model pixels, corner origin
    extrinsics_pred: np.ndarray | None = None  # [S, 3, 4] before BA, only when BA changed the cameras
    world_points: np.ndarray | None = None  # [S, H, W, 3] point head, when it ran
    world_points_conf: np.ndarray | None = None  # [S, H, W]
    ba_summary: dict | None = None
    _depth_cache: dict = field(default_factory=dict, repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.names)

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def has_point_map(self) -> bool:
        return self.world_points is not None

    @property
    def has_ba(self) -> bool:
        return self.extrinsics_pred is not None

    def cameras(self, before_ba: bool = False) -> np.ndarray:
        """``[S, 3, 4]`` world-to-camera extrinsics, the predicted ones with ``before_ba``."""
        if before_ba and self.extrinsics_pred is not None:
            return self.extrinsics_pred
        return self.extrinsics

    def depth_points(self, before_ba: bool = False) -> np.ndarray:
        """``[S, H, W, 3]`` world points of the pixel centres, unprojected with the chosen cameras (cached)."""
        key = bool(before_ba and self.has_ba)
        if key not in self._depth_cache:
            from openvggt.geometry import unproject_depth

            k = self.intrinsics.astype(np.float32).copy()
            k[:, :2, 2] -= 0.5  # pixel (u, v) has its centre at (u + 0.5, v + 0.5)
            as32 = [torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (self.depth, self.cameras(key))]
            depth, w2c = as32
            self._depth_cache[key] = unproject_depth(depth, w2c, torch.from_numpy(k)).numpy()
        return self._depth_cache[key]

    def select(
        self,
        source: str = "depth",
        conf_percentile: float = 50.0,
        frames: tuple[int, int] | None = None,
        before_ba: bool = False,
        max_points: int | None = None,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(points [P, 3] float32, colours [P, 3] uint8)``: confident pixels of frames ``frames[0]..frames[1]``.

        ``conf_percentile``: drop pixels below this percentile of the confidence of the shown frames.
        """
        if source not in SOURCES:
            raise InputError(f"point source must be one of {SOURCES}, got {source!r}")
        if source == "point" and not self.has_point_map:
            raise InputError("this reconstruction has no point-head output (run reconstruct with --use-point-map)")
        if not 0.0 <= conf_percentile < 100.0:
            raise InputError(f"confidence percentile must be in [0, 100), got {conf_percentile}")
        first, last = frames if frames is not None else (0, self.num_frames - 1)
        first, last = max(0, int(first)), min(self.num_frames - 1, int(last))
        if first > last:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
        shown = slice(first, last + 1)
        if source == "point":
            world, conf, usable = self.world_points[shown], self.world_points_conf[shown], self.valid[shown]
        else:
            world, conf = self.depth_points(before_ba)[shown], self.depth_conf[shown]
            usable = self.valid[shown] & (self.depth[shown] > 0)
        usable = usable & np.isfinite(world).all(-1) & np.isfinite(conf)
        if usable.any() and conf_percentile > 0:
            usable &= conf >= np.percentile(conf[usable], conf_percentile)
        idx = np.flatnonzero(usable)
        if max_points is not None and len(idx) > max_points:
            idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_points, replace=False))
        s, v, u = np.unravel_index(idx, usable.shape)
        return world[s, v, u].astype(np.float32), self.images[shown][s, v, u]


def _npz_array(data: np.lib.npyio.NpzFile, key: str, path: Path, required: bool = True) -> np.ndarray | None:
    if key not in data.files:
        if required:
            raise InputError(f"{path} has no {key!r} array: not written by openvggt reconstruct?")
        return None
    return data[key]


def load_scene(out_dir: str | os.PathLike) -> ViewerScene:
    """Read ``out_dir/predictions.npz`` (and ``run.json`` when present) into a :class:`ViewerScene`."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (give the --out folder of openvggt reconstruct)")
    path = folder / "predictions.npz"
    if not path.is_file():
        raise InputError(f"{folder} has no predictions.npz: not an openvggt reconstruct output folder")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None
    with data:
        images = _npz_array(data, "images", path)
        depth = _npz_array(data, "depth", path)
        depth = depth[..., 0] if depth.ndim == 4 else depth
        s = len(images)
        names_arr = _npz_array(data, "names", path, required=False)
        valid = _npz_array(data, "valid_mask", path, required=False)
        scene = ViewerScene(
            names=[str(n) for n in names_arr] if names_arr is not None else [f"frame {i}" for i in range(s)],
            images=images,
            depth=depth.astype(np.float32),
            depth_conf=_npz_array(data, "depth_conf", path).astype(np.float32),
            valid=valid.astype(bool) if valid is not None else np.ones(depth.shape, bool),
            extrinsics=_npz_array(data, "extrinsic", path).astype(np.float64),
            intrinsics=_npz_array(data, "intrinsic", path).astype(np.float64),
            world_points=_npz_array(data, "world_points", path, required=False),
            world_points_conf=_npz_array(data, "world_points_conf", path, required=False),
        )
        pred = _npz_array(data, "extrinsic_pred", path, required=False)
    if scene.world_points is not None:
        scene.world_points = scene.world_points.reshape(s, *scene.image_hw, 3)
    if pred is not None and not np.allclose(pred, scene.extrinsics):
        scene.extrinsics_pred = pred.astype(np.float64)
    run = folder / "run.json"
    if run.is_file():
        try:
            scene.ba_summary = json.loads(run.read_text()).get("bundle_adjustment")
        except (OSError, ValueError):
            log.warning("%s: unreadable, ignored", run)
    shapes = {a.shape[:3] for a in (scene.images, scene.depth[..., None], scene.depth_conf[..., None])}
    if len(shapes) != 1 or scene.extrinsics.shape != (s, 3, 4) or scene.intrinsics.shape != (s, 3, 3):
        raise InputError(f"{path}: arrays of inconsistent shapes")
    return scene
