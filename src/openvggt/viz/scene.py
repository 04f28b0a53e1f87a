"""A reconstruction as the viewers see it: read back from a ``reconstruct`` output folder.

A one-pass run is read from ``predictions.npz`` (model input images, depth, confidence, cameras,
the point map when the point head ran) and ``run.json`` (whether bundle adjustment ran). A chunked
(long-sequence) run has no ``predictions.npz``: its cameras come from ``cameras.npz`` (with the
cameras before loop closure when it ran), its points from ``points.ply`` and the frustum pictures
from ``images/``. Nothing is recomputed by a model. Conventions are the pipeline's: OpenCV cameras
(x right, y down, z forward), extrinsics world-to-camera ``[S, 3, 4]``, intrinsics with the origin
at the image's top-left corner. Legend: S frames, H x W image the intrinsics refer to, P points.
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
from openvggt.geometry import unproject_depth

log = logging.getLogger(__name__)

SOURCES = ("depth", "point")  # points from depth + cameras, or from the point head
MAX_FRUSTUMS = 200  # camera frustums drawn; longer sequences show every k-th
THUMB_WIDTH = 128  # frustum pictures of chunked runs


@dataclass
class ViewerScene:
    """Arrays a viewer needs (numpy, see the module docstring for conventions).

    One-pass runs fill ``images``, ``depth``, ``depth_conf`` and ``valid``; chunked runs fill ``cloud``
    (the written point cloud) and ``thumbs`` instead.
    """

    names: list[str]
    images: np.ndarray | None  # [S, H, W, 3] uint8 model input
    depth: np.ndarray | None  # [S, H, W] z-depth, 0 outside the image footprint
    depth_conf: np.ndarray | None  # [S, H, W]
    valid: np.ndarray | None  # [S, H, W] bool, pixels that show the image
    extrinsics: np.ndarray  # [S, 3, 4] world-to-camera, final (after BA / loop closure)
    intrinsics: np.ndarray  # [S, 3, 3] pixels of an H x W image, corner origin
    extrinsics_pred: np.ndarray | None = None  # [S, 3, 4] before BA / loop closure, when that changed them
    world_points: np.ndarray | None = None  # [S, H, W, 3] point head, when it ran
    world_points_conf: np.ndarray | None = None  # [S, H, W]
    ba_summary: dict | None = None
    cloud: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None  # points [P, 3], colours, confidence
    thumbs: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> small picture (chunked runs)
    size_hw: tuple[int, int] | None = None  # H, W when there are no images
    before_label: str = "cameras before BA"
    _depth_cache: dict = field(default_factory=dict, repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.names)

    @property
    def image_hw(self) -> tuple[int, int]:
        if self.images is None:
            return self.size_hw
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def is_chunked(self) -> bool:
        return self.cloud is not None

    def frame_image(self, i: int) -> np.ndarray | None:
        """The picture shown in frame ``i``'s frustum, if any."""
        return self.images[i] if self.images is not None else self.thumbs.get(i)

    def frustum_frames(self) -> list[int]:
        """Frames whose frustums are drawn: all, or every k-th of a long sequence (and the last)."""
        step = -(-self.num_frames // MAX_FRUSTUMS)
        frames = list(range(0, self.num_frames, step))
        return frames if frames[-1] == self.num_frames - 1 else frames + [self.num_frames - 1]

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
        if self.is_chunked:
            return self._select_cloud(source, conf_percentile, max_points, seed)
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

    def _select_cloud(self, source: str, conf_percentile: float, max_points: int | None, seed: int):  # noqa: ANN202
        """Chunked runs: the written cloud (already fused over frames), cut by its confidence field."""
        if source != "depth":
            raise InputError("a chunked reconstruction has only the fused point cloud (no point-head output)")
        points, colors, conf = self.cloud
        keep = np.isfinite(points).all(-1)
        if conf is not None and conf_percentile > 0 and keep.any():
            keep &= conf >= np.percentile(conf[keep], conf_percentile)
        idx = np.flatnonzero(keep)
        if max_points is not None and len(idx) > max_points:
            idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_points, replace=False))
        return points[idx].astype(np.float32), colors[idx]


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
    if not path.is_file() and (folder / "cameras.npz").is_file():
        return load_chunked_scene(folder)
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


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(points [P, 3] float32, colours [P, 3] uint8, confidence [P] or None)`` of a binary PLY of
    :func:`openvggt.io.ply.write_ply` (little-endian float / uchar properties)."""
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise InputError(f"{path}: not a PLY file")
    count, fields = 0, []
    for line in data[:end].decode("ascii", "replace").splitlines():
        parts = line.split()
        if parts[:2] == ["element", "vertex"]:
            count = int(parts[2])
        elif parts[:1] == ["property"] and len(parts) == 3:
            kind = {"float": "<f4", "uchar": "u1"}.get(parts[1])
            if kind is None:
                raise InputError(f"{path}: property type {parts[1]} is not one openvggt writes")
            fields.append((parts[2], kind))
        elif parts[:1] == ["format"] and parts[1] != "binary_little_endian":
            raise InputError(f"{path}: {parts[1]} PLY is not one openvggt writes")
    try:
        rows = np.frombuffer(data, dtype=fields, count=count, offset=end + len(b"end_header\n"))
        points = np.stack([rows["x"], rows["y"], rows["z"]], -1)
        colors = np.stack([rows["red"], rows["green"], rows["blue"]], -1)
    except (ValueError, KeyError) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None
    conf = rows["confidence"].copy() if "confidence" in rows.dtype.names else None
    return points, colors, conf


def _thumb(path: Path, width: int = THUMB_WIDTH) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (width, width))  # JPEG: decode at a reduced size
            rgb = image.convert("RGB")
            height = max(1, round(rgb.height * width / rgb.width))
            return np.asarray(rgb.resize((width, height), Image.Resampling.BILINEAR))
    except OSError:
        return None


def load_chunked_scene(folder: Path) -> ViewerScene:
    """A chunked (long-sequence) output: ``cameras.npz``, ``points.ply`` and, when copied, ``images/``."""
    path = folder / "cameras.npz"
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from None
    with data:
        extrinsics = _npz_array(data, "extrinsic", path).astype(np.float64)
        intrinsics = _npz_array(data, "intrinsic_original", path).astype(np.float64)
        names = [str(n) for n in _npz_array(data, "names", path)]
        sizes = _npz_array(data, "original_size", path)
        before = _npz_array(data, "extrinsic_before_loop_closure", path, required=False)
    if not (folder / "points.ply").is_file():
        raise InputError(f"{folder} has cameras.npz but no points.ply")
    width, height = (int(v) for v in sizes[0])
    scene = ViewerScene(
        names=names, images=None, depth=None, depth_conf=None, valid=None, extrinsics=extrinsics,
        intrinsics=intrinsics, cloud=read_ply(folder / "points.ply"), size_hw=(height, width),
        before_label="cameras before loop closure",
    )  # fmt: skip
    if before is not None and not np.allclose(before, extrinsics):
        scene.extrinsics_pred = before.astype(np.float64)
    for i in scene.frustum_frames():
        image = folder / "images" / names[i]
        if image.is_file():
            thumb = _thumb(image)
            if thumb is not None:
                scene.thumbs[i] = thumb
    return scene
