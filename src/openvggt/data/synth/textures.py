"""Textures for the synthetic scene engine: photographs, procedural patterns, mip pyramids.

A :class:`Texture` stores its whole mip pyramid in one flat ``[N, 3]`` uint8 array (sRGB) so that a
lookup at a per-hit mip level is a single gather. Photographs come from scikit-image's bundled
sample images (shipped inside the wheel, no download) and are loaded once per process on first
use; procedural textures are drawn per scene from the scene's random generator.

Texture coordinates ``(s, t)`` are in texture tiles: the texture repeats with period 1, ``s`` runs
along the image columns and ``t`` along its rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# scikit-image sample images bundled in the wheel (no network): colour photographs and gray ones.
COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
GRAY_PHOTOS = ("brick", "camera", "grass", "gravel", "moon", "coins", "page", "text", "clock")
_MAX_PHOTO_SIDE = 512


@dataclass(frozen=True)
class Texture:
    """A mip-mapped RGB texture stored flat.

    ``data`` is ``[N]`` uint32, one packed sRGB texel each (``r | g << 8 | b << 16``), the levels one
    after another; level ``l`` has size ``heights[l] x widths[l]`` and starts at ``offsets[l]``;
    level 0 is the full resolution. Packing makes a bilinear lookup four 1-D gathers.
    """

    name: str
    data: np.ndarray
    offsets: np.ndarray
    widths: np.ndarray
    heights: np.ndarray

    @property
    def num_levels(self) -> int:
        return len(self.offsets)

    @classmethod
    def from_image(cls, name: str, image: np.ndarray) -> Texture:
        """``image``: ``[H, W, 3]`` uint8 sRGB; builds the pyramid by 2x2 box filtering."""
        levels = [np.ascontiguousarray(image, dtype=np.uint8)]
        while min(levels[-1].shape[:2]) >= 2:
            prev = levels[-1].astype(np.float32)
            h, w = prev.shape[0] // 2 * 2, prev.shape[1] // 2 * 2
            half = 0.25 * (prev[0:h:2, 0:w:2] + prev[1:h:2, 0:w:2] + prev[0:h:2, 1:w:2] + prev[1:h:2, 1:w:2])
            levels.append(np.round(half).astype(np.uint8))
        sizes = np.array([lv.shape[0] * lv.shape[1] for lv in levels])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        rgb = np.concatenate([lv.reshape(-1, 3) for lv in levels]).astype(np.uint32)
        data = rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16)
        heights = np.array([lv.shape[0] for lv in levels], dtype=np.int32)
        widths = np.array([lv.shape[1] for lv in levels], dtype=np.int32)
        return cls(name, data, offsets, widths, heights)

    def sample(self, s: np.ndarray, t: np.ndarray, level: np.ndarray) -> np.ndarray:
        """Lookup with repeat wrapping at an integer mip level per point: bilinear where the texture
        is magnified (level 0), nearest texel on coarser levels (the renderer's supersampling
        filters those; a bilinear lookup there costs twice as much for little visible gain).

        ``s, t``: ``[M]`` float32 coordinates in tiles; ``level``: ``[M]`` int. Returns planar
        ``[3, M]`` float32 sRGB in [0, 1].
        """
        level = np.clip(level, 0, self.num_levels - 1)
        fine = level == 0
        if fine.all():
            return self._bilinear(s, t)
        out = self._nearest(s, t, level)
        if fine.any():
            out[:, fine] = self._bilinear(s[fine], t[fine])
        return out

    def _nearest(self, s, t, level) -> np.ndarray:
        w = self.widths[level]
        h = self.heights[level]
        x = ((s - np.floor(s)) * w.astype(np.float32)).astype(np.int32)
        y = ((t - np.floor(t)) * h.astype(np.float32)).astype(np.int32)
        texel = np.take(self.data, self.offsets[level] + np.minimum(y, h - 1) * w + np.minimum(x, w - 1))
        return _unpack(texel)

    def _bilinear(self, s, t) -> np.ndarray:
        w, h = int(self.widths[0]), int(self.heights[0])
        x = (s - np.floor(s)) * np.float32(w) - np.float32(0.5)  # texel centres at +0.5
        y = (t - np.floor(t)) * np.float32(h) - np.float32(0.5)
        xf = np.floor(x)
        yf = np.floor(y)
        fx = x - xf
        fy = y - yf
        x0 = xf.astype(np.int32) % w
        y0 = yf.astype(np.int32) % h
        x1 = (x0 + 1) % w
        row0 = y0 * w
        row1 = ((y0 + 1) % h) * w
        c00, c01, c10, c11 = (_unpack(np.take(self.data, i)) for i in (row0 + x0, row0 + x1, row1 + x0, row1 + x1))
        top = c00 + (c01 - c00) * fx
        bot = c10 + (c11 - c10) * fx
        return top + (bot - top) * fy


def _unpack(texels: np.ndarray) -> np.ndarray:
    """Packed ``[M]`` uint32 texels -> planar ``[3, M]`` float32 in [0, 1]."""
    out = np.empty((3, len(texels)), np.float32)
    for ch in range(3):
        out[ch] = (texels >> (8 * ch)) & 255
    out *= np.float32(1 / 255)
    return out


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any skimage sample image -> ``[H, W, 3]`` uint8, longer side at most 512."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    step = int(np.ceil(max(image.shape[:2]) / _MAX_PHOTO_SIDE))
    if step > 1:
        h, w = image.shape[0] // step * step, image.shape[1] // step * step
        image = image[:h, :w].reshape(h // step, step, w // step, step, 3).mean(axis=(1, 3)).astype(np.uint8)
    return np.ascontiguousarray(image)


@functools.cache
def photo_textures() -> dict[str, Texture]:
    """The bundled photographs as textures, loaded on first call and cached for the process."""
    import skimage.data  # noqa: PLC0415 (optional dependency, imported on use)

    out = {}
    for name in COLOUR_PHOTOS + GRAY_PHOTOS:
        out[name] = Texture.from_image(name, _to_rgb_uint8(getattr(skimage.data, name)()))
    for side in ("left", "right"):
        out[f"motorcycle_{side}"] = Texture.from_image(f"motorcycle_{side}", _to_rgb_uint8(_motorcycle(side)))
    return out


def _motorcycle(side: str) -> np.ndarray:
    import skimage.data  # noqa: PLC0415

    left, right, _ = skimage.data.stereo_motorcycle()
    return left if side == "left" else right


# ----------------------------------------------------------------------------- procedural patterns
def value_noise(rng: np.random.Generator, size: int, octaves: int = 5, base: int = 4) -> np.ndarray:
    """Tileable fractal value noise, ``[size, size]`` float32 roughly in [0, 1]."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2**o
        if cells > size:
            break
        grid = rng.random((cells, cells), dtype=np.float32)
        out += amp * _tile_upsample(grid, size)
        total += amp
        amp *= 0.55
    return out / total


def _tile_upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Periodic bilinear (smoothstep) upsampling of ``[c, c]`` to ``[size, size]``."""
    c = grid.shape[0]
    x = np.arange(size, dtype=np.float32) * (c / size)
    i0 = np.floor(x).astype(np.int64)
    f = x - i0
    f = f * f * (3 - 2 * f)
    i1 = (i0 + 1) % c
    rows = grid[i0] * (1 - f)[:, None] + grid[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None] + rows[:, i1] * f[None]


def _colour(rng: np.random.Generator, sat: float = 0.5, lo: float = 0.15, hi: float = 0.9) -> np.ndarray:
    """A random sRGB colour ``[3]`` with saturation at most ``sat``."""
    grey = rng.uniform(lo, hi)
    hue = rng.normal(0, 1, 3).astype(np.float32)
    hue /= np.abs(hue).max() + 1e-6
    return np.clip(grey * (1 + sat * rng.uniform(0, 1) * hue), 0.02, 1.0).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a[None, None] * (1 - w[..., None]) + b[None, None] * w[..., None]


def _plain(rng, size):  # texture-poor: a flat colour with barely visible noise
    n = value_noise(rng, size, octaves=3)
    return _colour(rng)[None, None] * (1 + rng.uniform(0.01, 0.04) * (n[..., None] - 0.5))


def _white(rng, size):  # near-white with faint noise: lamp shades, window panes
    return np.full(3, 0.92, np.float32)[None, None] * (1 + 0.03 * (value_noise(rng, size, 3)[..., None] - 0.5))


def _stone(rng, size):
    n = value_noise(rng, size, octaves=6, base=rng.choice([2, 4, 8]))
    return _mix(_colour(rng, 0.3, 0.1, 0.5), _colour(rng, 0.3, 0.5, 0.95), n)


def _checker(rng, size):
    k = int(rng.choice([2, 4, 8]))
    ij = (np.arange(size) * k // size)[:, None] + (np.arange(size) * k // size)[None]
    w = (ij % 2).astype(np.float32) * (0.85 + 0.15 * value_noise(rng, size, 3))
    return _mix(_colour(rng), _colour(rng), w)


def _stripes(rng, size):
    k = int(rng.choice([2, 4, 6, 8, 16]))
    x = np.arange(size, dtype=np.float32) / size
    w = 0.5 + 0.5 * np.sin(2 * np.pi * k * (x[None] + 0.1 * value_noise(rng, size, 3)))
    return _mix(_colour(rng), _colour(rng), np.clip(w * rng.uniform(1, 4), 0, 1))


def _tiles(rng, size):
    k = int(rng.choice([2, 4, 8]))
    pos = np.arange(size) * k % size
    grout = (pos < size // (12 * k) + 1)[:, None] | (pos < size // (12 * k) + 1)[None]
    fill = _mix(_colour(rng, 0.4), _colour(rng, 0.4), value_noise(rng, size, 4, 8))
    return np.where(grout[..., None], _colour(rng, 0.1, 0.3, 0.8)[None, None], fill)


def _bricks(rng, size):
    rows = int(rng.choice([4, 8]))
    y = np.arange(size) * rows / size
    x = np.arange(size)[None] * (rows / 2) / size + 0.5 * (np.floor(y)[:, None] % 2)
    mortar = ((y % 1) < 0.08)[:, None] | ((x % 1) < 0.04)
    base = _colour(rng, 0.6, 0.2, 0.6)
    shade = rng.uniform(0.75, 1.15, (rows + 1, rows + 2))[np.floor(y).astype(int)[:, None], np.floor(x).astype(int)]
    fill = base[None, None] * (shade * (0.8 + 0.4 * value_noise(rng, size, 5, 8)))[..., None]
    return np.where(mortar[..., None], _colour(rng, 0.1, 0.5, 0.85)[None, None], fill)


def _wood(rng, size):
    n = value_noise(rng, size, 4, 4)
    y = np.arange(size, dtype=np.float32)[:, None] / size
    grain = value_noise(rng, size, 3, 32)[:, :1]  # fine streaks along the boards (vary across only)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(4, 12) * y + 1.5 * n + 0.8 * grain))
    brown = np.array([1.0, 0.68, 0.42], np.float32) * rng.uniform(0.93, 1.07, 3).astype(np.float32)
    dark, light = brown * rng.uniform(0.3, 0.5), brown * rng.uniform(0.6, 0.9)
    return _mix(np.clip(dark, 0, 1), np.clip(light, 0, 1), rings)


def _facade(rng, size):
    """A building facade: wall with a grid of windows (dark glass with light frames)."""
    wall = _stone(rng, size) * 0.6 + 0.4 * _colour(rng, 0.5, 0.3, 0.9)[None, None]
    cols, rows = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    u = np.arange(size) * cols / size % 1
    v = np.arange(size) * rows / size % 1
    wu, wv = rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.7)
    inside = ((np.abs(v - 0.5) < wv / 2)[:, None]) & ((np.abs(u - 0.5) < wu / 2)[None])
    frame = ((np.abs(v - 0.5) < wv / 2 + 0.04)[:, None]) & ((np.abs(u - 0.5) < wu / 2 + 0.04)[None])
    glass = _colour(rng, 0.3, 0.05, 0.3)[None, None] * (0.6 + 0.8 * value_noise(rng, size, 3, 2))[..., None]
    out = np.where(frame[..., None], _colour(rng, 0.1, 0.6, 0.95)[None, None], wall)
    return np.where(inside[..., None], glass, out)


def _dots(rng, size):
    k = int(rng.choice([3, 4, 6, 8]))
    c = (np.arange(size) * k / size % 1) - 0.5
    w = ((c[:, None] ** 2 + c[None] ** 2) < rng.uniform(0.04, 0.16)).astype(np.float32)
    return _mix(_colour(rng), _colour(rng), w)


PROCEDURAL: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "plain": _plain,
    "white": _white,
    "stone": _stone,
    "checker": _checker,
    "stripes": _stripes,
    "tiles": _tiles,
    "bricks": _bricks,
    "wood": _wood,
    "facade": _facade,
    "dots": _dots,
}


def procedural_texture(kind: str, rng: np.random.Generator, size: int = 256, saturation: float = 0.5) -> Texture:
    """A new procedural texture of ``kind`` (a key of :data:`PROCEDURAL`) drawn from ``rng``;
    ``saturation`` scales how colourful its random colours may be (0 = grey)."""
    rgb = PROCEDURAL[kind](rng, size)
    if kind != "wood":  # wood keeps its browns
        grey = rgb.mean(axis=-1, keepdims=True)
        rgb = grey + (rgb - grey) * (saturation / 0.5)
    rgb = np.broadcast_to(rgb, (size, size, 3))
    return Texture.from_image(kind, np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8))
