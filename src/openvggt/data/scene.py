"""The in-memory scene interface every reader returns and the training pipeline consumes.

A :class:`Scene` holds per-frame cameras as arrays and per-frame images, depths and masks as
*sources*: a path (read on demand), an array, or a zero-argument callable (e.g. a renderer).
Only what a sample needs is ever loaded, so a scene with thousands of frames is cheap to hold.

Conventions: OpenCV camera (x right, y down, z forward), world-to-camera ``x_cam = R @ x_world + t``,
``K`` in pixels of the image with the centre of pixel (column u, row v) at (u, v). Depth is the
z coordinate in the camera frame, 0 where invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from openvggt.errors import SceneError

Source = Path | np.ndarray | Callable[[], np.ndarray]


@dataclass(frozen=True)
class Scene:
    """A posed image set. ``S`` frames; ``sizes [S, 2]`` is (height, width) of each image.

    ``depth_scale``: stored depth units per metre for integer depth images (e.g. 5000 for TUM
    PNGs); float ``.npy`` depths are in metres already.
    """

    name: str
    K: np.ndarray  # [S, 3, 3] pixels
    R: np.ndarray  # [S, 3, 3] world-to-camera
    t: np.ndarray  # [S, 3] world-to-camera
    sizes: np.ndarray  # [S, 2] (height, width)
    images: tuple[Source, ...]
    depths: tuple[Source | None, ...] | None = None
    masks: tuple[Source | None, ...] | None = None
    depth_scale: float = 1.0

    def __post_init__(self) -> None:
        n = len(self.images)
        for field_name, shape in (("K", (n, 3, 3)), ("R", (n, 3, 3)), ("t", (n, 3)), ("sizes", (n, 2))):
            arr = getattr(self, field_name)
            if np.shape(arr) != shape:
                raise SceneError(f"{self.name}: {field_name} has shape {np.shape(arr)}, expected {shape}")
        for field_name in ("depths", "masks"):
            seq = getattr(self, field_name)
            if seq is not None and len(seq) != n:
                raise SceneError(f"{self.name}: {len(seq)} {field_name} for {n} images")

    @property
    def num_frames(self) -> int:
        return len(self.images)

    @property
    def has_depth(self) -> bool:
        return self.depths is not None and all(d is not None for d in self.depths)

    @property
    def extrinsics(self) -> np.ndarray:
        """``[S, 3, 4]`` world-to-camera ``[R | t]``."""
        return np.concatenate([self.R, self.t[:, :, None]], axis=2)

    def subset(self, ids: Sequence[int]) -> Scene:
        """The frames ``ids`` (in that order) as a new scene."""
        ids = list(ids)

        def pick(seq):
            return None if seq is None else tuple(seq[i] for i in ids)

        return replace(
            self,
            K=self.K[ids],
            R=self.R[ids],
            t=self.t[ids],
            sizes=self.sizes[ids],
            images=pick(self.images),
            depths=pick(self.depths),
            masks=pick(self.masks),
        )

    # ------------------------------------------------------------------------------- loading
    def load_image(self, i: int) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB of frame ``i``."""
        src = self.images[i]
        if isinstance(src, Path):
            image = _read_image(src)
        else:
            image = np.asarray(src() if callable(src) else src)
        self._check_size(i, image, src)
        return image

    def load_depth(self, i: int) -> np.ndarray | None:
        """``[H, W]`` float32 metres of frame ``i`` (0 = invalid), or None without depth."""
        src = None if self.depths is None else self.depths[i]
        if src is None:
            return None
        if isinstance(src, Path):
            depth = _read_depth(src, self.depth_scale)
        else:
            depth = np.asarray(src() if callable(src) else src, np.float32)
        self._check_size(i, depth, src)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)

    def load_mask(self, i: int) -> np.ndarray | None:
        """``[H, W]`` bool of frame ``i`` (True = usable), or None without masks."""
        src = None if self.masks is None else self.masks[i]
        if src is None:
            return None
        if isinstance(src, Path):
            mask = _read_image(src, mode="L") > 127
        else:
            mask = np.asarray(src() if callable(src) else src).astype(bool)
        self._check_size(i, mask, src)
        return mask

    def _check_size(self, i: int, arr: np.ndarray, src) -> None:
        h, w = (int(x) for x in self.sizes[i])
        if arr.shape[:2] != (h, w):
            where = src if isinstance(src, Path) else f"{self.name} frame {i}"
            raise SceneError(f"{where}: size {arr.shape[1]}x{arr.shape[0]} does not match the camera's {w}x{h}")


def _read_image(path: Path, mode: str = "RGB") -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    if not path.is_file():
        raise SceneError(f"{path}: image file is missing")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except OSError as e:
        raise SceneError(f"{path}: cannot read image ({e})") from None


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if not path.is_file():
        raise SceneError(f"{path}: depth file is missing")
    try:
        if path.suffix == ".npy":
            depth = np.load(path)
            return depth[..., 0] if depth.ndim == 3 and depth.shape[2] == 1 else depth
        from PIL import Image  # noqa: PLC0415

        with Image.open(path) as im:
            return np.asarray(im, np.float32) / scale
    except (OSError, ValueError) as e:
        raise SceneError(f"{path}: cannot read depth ({e})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file from its header; SceneError naming the file if unreadable."""
    from PIL import Image  # noqa: PLC0415

    if not path.is_file():
        raise SceneError(f"{path}: image file is missing")
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except OSError as e:
        raise SceneError(f"{path}: cannot read image ({e})") from None
