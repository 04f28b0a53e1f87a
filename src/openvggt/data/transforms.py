"""Per-frame geometry transforms, colour augmentation and ground-truth normalisation.

Conventions: OpenCV camera, world-to-camera extrinsics ``[R | t]``, ``K`` in pixels with the centre
of pixel (column u, row v) at (u, v). Crops and resizes keep ``K`` exact for the image: a resize by
``s`` maps a pixel-centre coordinate ``x`` to ``(x + 0.5) * s - 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Frame:
    """One processed frame: ``image [H, W, 3]`` uint8, ``depth [H, W]`` float32 (0 = invalid),
    ``K [3, 3]``."""

    image: np.ndarray
    depth: np.ndarray | None
    K: np.ndarray


def crop(frame: Frame, y0: int, x0: int, h: int, w: int) -> Frame:
    """Window ``[y0, y0 + h) x [x0, x0 + w)`` (inside the image); the principal point moves with it."""
    K = frame.K.copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    depth = None if frame.depth is None else frame.depth[y0 : y0 + h, x0 : x0 + w]
    return Frame(frame.image[y0 : y0 + h, x0 : x0 + w], depth, K)


def crop_around_principal_point(frame: Frame, h: int, w: int) -> Frame:
    """An ``h x w`` window as centred on the principal point as the image bounds allow."""
    H, W = frame.image.shape[:2]
    if h > H or w > W:
        raise ValueError(f"crop {w}x{h} is larger than the image {W}x{H}")
    x0 = int(np.clip(np.round(frame.K[0, 2] - (w - 1) / 2), 0, W - w))
    y0 = int(np.clip(np.round(frame.K[1, 2] - (h - 1) / 2), 0, H - h))
    return crop(frame, y0, x0, h, w)


def resize(frame: Frame, h: int, w: int) -> Frame:
    """Resize to ``h x w``: area filter when shrinking, cubic when enlarging, nearest for depth."""
    import cv2  # noqa: PLC0415 (optional dependency, imported on use)

    H, W = frame.image.shape[:2]
    sx, sy = w / W, h / H
    interp = cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_CUBIC
    image = cv2.resize(frame.image, (w, h), interpolation=interp)
    depth = None
    if frame.depth is not None:
        # Nearest source pixel of each target pixel centre (cv2's nearest is shifted by half a pixel).
        rows = np.minimum(((np.arange(h) + 0.5) / sy).astype(np.int64), H - 1)
        cols = np.minimum(((np.arange(w) + 0.5) / sx).astype(np.int64), W - 1)
        depth = frame.depth[rows[:, None], cols[None, :]]
    K = frame.K.copy()
    K[0] *= sx
    K[1] *= sy
    K[0, 2] += 0.5 * sx - 0.5
    K[1, 2] += 0.5 * sy - 0.5
    return Frame(image, depth, K)


def process_frame(
    frame: Frame,
    target_hw: tuple[int, int],
    rng: np.random.Generator | None,
    scale_range=(0.8, 1.2),
    rescale_aug: bool = True,
) -> Frame:
    """Random crop (zoom-in only), resize to cover ``target_hw`` and crop it out around the principal
    point. ``rng=None`` means no augmentation."""
    th, tw = target_hw
    H, W = frame.image.shape[:2]
    if rng is not None:
        sh, sw = np.minimum(rng.uniform(*scale_range, 2), 1.0)
        frame = crop_around_principal_point(frame, max(int(H * sh), 1), max(int(W * sw), 1))
        H, W = frame.image.shape[:2]
    margin = 4 + (rng.triangular(0, 0, 0.3) * max(th, tw) if rng is not None and rescale_aug else 0)
    scale = max((th + margin) / H, (tw + margin) / W)
    frame = resize(frame, max(int(H * scale), th), max(int(W * scale), tw))
    return crop_around_principal_point(frame, th, tw)


# ------------------------------------------------------------------------------- point maps
def depth_to_cam_points(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``depth [..., H, W]``, ``K [..., 3, 3]`` -> camera-frame points ``[..., H, W, 3]`` (float32)."""
    H, W = depth.shape[-2:]
    u = np.arange(W, dtype=np.float64)
    v = np.arange(H, dtype=np.float64)
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    cx, cy = K[..., 0, 2, None, None], K[..., 1, 2, None, None]
    x = (u[None, :] - cx) / fx * depth
    y = (v[:, None] - cy) / fy * depth
    return np.stack([x, y, np.broadcast_to(depth, x.shape)], axis=-1).astype(np.float32)


def cam_to_world(points: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame points ``[S, H, W, 3]`` -> world with world-to-camera ``extrinsics [S, 3, 4]``."""
    S = points.shape[0]
    R, t = extrinsics[:, :, :3].astype(points.dtype), extrinsics[:, :, 3].astype(points.dtype)
    flat = points.reshape(S, -1, 3) - t[:, None, :]
    return np.matmul(flat, R).reshape(points.shape)  # rows: R^T (x - t)


def relative_to_first(extrinsics: np.ndarray) -> np.ndarray:
    """``[S, 3, 4]`` world-to-camera -> the same cameras with frame 0's camera as the world
    (``E_s E_0^-1``; frame 0 becomes ``[I | 0]``)."""
    R0, t0 = extrinsics[0, :, :3], extrinsics[0, :, 3]
    R = extrinsics[:, :, :3] @ R0.T
    t = extrinsics[:, :, 3] - R @ t0
    return np.concatenate([R, t[:, :, None]], axis=2)


def normalise_scale(extrinsics, world_points, cam_points, depths, masks):
    """Divide translations, points and depths by the mean distance of the valid world points to the
    origin (frame 0's centre after :func:`relative_to_first`; spec §9.1).

    ``extrinsics [S, 3, 4]``, ``world_points``/``cam_points [S, H, W, 3]``, ``depths [S, H, W]``,
    ``masks [S, H, W]`` bool. Returns the four arrays (float32, NaN/Inf zeroed) and the scale.
    Without valid points the scale is the mean distance of the camera centres to the origin.
    """
    if masks.any():
        x, y, z = world_points[..., 0], world_points[..., 1], world_points[..., 2]
        dist = np.sqrt(x * x + y * y + z * z)
        scale = float(dist.sum(where=masks, dtype=np.float64) / (masks.sum() + 1e-3))
    else:
        centres = -np.einsum("sji,sj->si", extrinsics[:, :, :3], extrinsics[:, :, 3])
        scale = float(np.linalg.norm(centres, axis=1).mean()) or 1.0
    scale = float(np.clip(scale, 1e-6, 1e6))
    ext = extrinsics.copy()
    ext[:, :, 3] /= scale
    inv = np.float32(1 / scale)
    out = [ext.astype(np.float32), world_points * inv, cam_points * inv, depths * inv]
    return [np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0) for a in out] + [scale]


# --------------------------------------------------------------------------- colour augmentation
@dataclass(frozen=True)
class ColourAug:
    """Colour augmentation applied on ``[S, 3, H, W]`` float images in [0, 1].

    With probability ``jitter_p`` a brightness/contrast/saturation/hue jitter (ranges as in
    torchvision's ColorJitter), shared by all frames unless ``rng.random() < cojitter_ratio``;
    then per frame a grey conversion with ``grayscale_p`` and a Gaussian blur with ``blur_p``.
    """

    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.1
    jitter_p: float = 0.9
    cojitter_ratio: float = 0.3
    grayscale_p: float = 0.05
    blur_p: float = 0.1
    blur_sigma: tuple[float, float] = (0.1, 1.5)

    def __call__(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Returns augmented ``[S, 3, H, W]``; ``images`` is left unchanged."""
        S = images.shape[0]
        images = images.clone()
        if rng.random() < self.jitter_p:
            shared = rng.random() >= self.cojitter_ratio
            params = [self._draw(rng)] * S if shared else [self._draw(rng) for _ in range(S)]
            images = torch.stack([_jitter(images[s], *params[s]) for s in range(S)])
        grey = torch.from_numpy(rng.random(S) < self.grayscale_p)
        if grey.any():
            images[grey] = _luma(images[grey]).expand(-1, 3, -1, -1)
        for s in np.nonzero(rng.random(S) < self.blur_p)[0]:
            images[s] = _blur(images[s], float(rng.uniform(*self.blur_sigma)))
        return images

    def _draw(self, rng):
        return (
            rng.uniform(1 - self.brightness, 1 + self.brightness),
            rng.uniform(1 - self.contrast, 1 + self.contrast),
            rng.uniform(1 - self.saturation, 1 + self.saturation),
            rng.uniform(-self.hue, self.hue),
        )


def _luma(img: torch.Tensor) -> torch.Tensor:
    """``[..., 3, H, W]`` -> ``[..., 1, H, W]`` luma (ITU-R 601 weights)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype)
    return (img * w[:, None, None]).sum(dim=-3, keepdim=True)


def _jitter(img: torch.Tensor, b: float, c: float, s: float, h: float) -> torch.Tensor:
    """One frame ``[3, H, W]``: brightness, contrast, saturation, then a hue rotation in YIQ."""
    img = (img * b).clamp(0, 1)
    img = ((img - _luma(img).mean()) * c + _luma(img).mean()).clamp(0, 1)
    lum = _luma(img)
    img = ((img - lum) * s + lum).clamp(0, 1)
    if h:
        a = 2 * np.pi * h
        to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        rot = torch.tensor([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]], dtype=torch.float32)
        m = torch.linalg.inv(to_yiq) @ rot @ to_yiq
        img = torch.einsum("ij,jhw->ihw", m, img).clamp(0, 1)
    return img


def _blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[3, H, W]`` with reflect padding."""
    r = max(1, int(np.ceil(2.5 * sigma)))
    x = torch.arange(-r, r + 1, dtype=img.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    out = torch.nn.functional.pad(img[None], (r, r, r, r), mode="reflect")
    out = torch.nn.functional.conv2d(out, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    out = torch.nn.functional.conv2d(out, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return out[0]
