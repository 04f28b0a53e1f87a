"""Bilinear sampling of feature maps at pixel coordinates (``align_corners=True`` convention).

Pixel ``(x, y)`` = (column, row); integer values are pixel centres: pixel 0 sits at coordinate 0
and pixel ``W - 1`` at ``W - 1``. ``grid_sample`` wants coordinates in ``[-1, 1]``, which we obtain
with ``2 x / max(W - 1, 1) - 1``. A side effect of ``align_corners=True`` that we keep on purpose (the
official tracker has it too): along an axis of size 1 every coordinate lands on pixel 0.

Padding modes: ``"zeros"`` treats pixels outside the map as 0 (used for correlation sampling);
``"border"`` clamps the coordinate into the map first (used for feature and positional sampling).

``bilinear_sample_math`` is an explicit-arithmetic reference used by the tests.
Shape legend (docs/architecture.md): B maps, C channels, H x W map, M x K sample grid, N points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDING_MODES = ("zeros", "border")


def pixel_to_grid(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Map pixel ``(x, y)`` ``[..., 2]`` to ``grid_sample``'s ``[-1, 1]`` range (``align_corners=True``)."""
    scale = coords.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return coords * scale - 1.0


def bilinear_sample(feats: torch.Tensor, coords: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``feats [B, C, H, W]`` at pixel coords ``[B, M, K, 2]`` (x, y) -> ``[B, C, M, K]``.

    The coordinates are cast to the dtype of ``feats`` (``grid_sample`` needs one dtype).
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if feats.ndim != 4 or coords.ndim != 4 or coords.shape[-1] != 2 or coords.shape[0] != feats.shape[0]:
        raise ValueError(f"expected feats [B, C, H, W] and coords [B, M, K, 2], got {feats.shape} and {coords.shape}")
    height, width = feats.shape[-2:]
    grid = pixel_to_grid(coords.to(feats.dtype), height, width)
    return F.grid_sample(feats, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def sample_points(feats: torch.Tensor, points: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Sample ``feats [B, C, H, W]`` at ``points [B, N, 2]`` (x, y pixels) -> ``[B, N, C]``."""
    return bilinear_sample(feats, points[:, :, None], padding_mode)[..., 0].transpose(1, 2)  # [B, C, N, 1] -> [B, N, C]


def bilinear_sample_math(feats: torch.Tensor, coords: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Reference for :func:`bilinear_sample` written with explicit arithmetic (slow; for tests).

    ``feats [B, C, H, W]``, ``coords [B, M, K, 2]`` pixel (x, y) -> ``[B, C, M, K]``.
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    height, width = feats.shape[-2:]
    x, y = coords.to(feats.dtype).unbind(-1)  # each [B, M, K]
    # align_corners=True maps every coordinate of a size-1 axis to pixel 0.
    x = x if width > 1 else torch.zeros_like(x)
    y = y if height > 1 else torch.zeros_like(y)
    if padding_mode == "border":
        x = x.clamp(0, width - 1)
        y = y.clamp(0, height - 1)
    x0, y0 = x.floor(), y.floor()
    wx1, wy1 = x - x0, y - y0
    out = 0
    for dx, wx in ((0, 1 - wx1), (1, wx1)):
        for dy, wy in ((0, 1 - wy1), (1, wy1)):
            out = out + (wx * wy)[:, None] * _gather_or_zero(feats, x0 + dx, y0 + dy)
    return out


def _gather_or_zero(feats: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
    """Pixel values at integer ``(xi, yi) [B, M, K]``; 0 outside the map -> ``[B, C, M, K]``."""
    b, c, height, width = feats.shape
    inside = (xi >= 0) & (xi <= width - 1) & (yi >= 0) & (yi <= height - 1)
    flat = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)).long()  # [B, M, K]
    vals = feats.reshape(b, c, 1, height * width).expand(b, c, flat.shape[1], -1)  # [B, C, M, H*W] (a view)
    vals = torch.gather(vals, 3, flat[:, None].expand(b, c, -1, -1))  # [B, C, M, K]
    return vals * inside[:, None].to(feats.dtype)
