"""Multi-scale local correlation between track features and frame feature maps (no parameters).

Legend: B batch, S frames, N tracks, C channels, L pyramid levels, r radius, K = (2r + 1)^2.

Level 0 is the feature map itself, level ``i + 1`` is a 2x2 average pool of level ``i`` (odd sizes
floored). For each track and frame the correlation ``<target, level_i> / sqrt(C)`` is read at the
``K`` points of a window of integer offsets around ``coords / 2^i``, with bilinear interpolation and
zero padding outside the map.

Window order (official QUIRK): flat index ``k = a (2r+1) + b`` reads offset ``(dx, dy) = (a - r, b - r)``,
i.e. the *x* offset is the slow index, the transpose of the usual row-major patch order.

Two exact-equivalent ways of reading the window are provided:

* ``"local"`` (default): bilinearly sample the *features* at the K window points, then take the dot
  product with the target. Bilinear interpolation is linear, so this equals sampling the correlation
  volume, but costs ``O(N K C)`` per level instead of ``O(N H_i W_i C)``, and works in chunks of
  tracks to bound memory.
* ``"volume"``: build the correlation volume ``[B S, N, H_i, W_i]`` of one level, sample it, free it
  (the official formulation; kept for tests and as a reference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from openvggt.models.heads.track.sampling import bilinear_sample

CORR_METHODS = ("local", "volume")
# Bound on the elements of one sampled-feature block [B S, C, n, K] in the "local" method.
LOCAL_CHUNK_ELEMENTS = 1 << 25


def window_offsets(radius: int, device=None, dtype=torch.float32) -> torch.Tensor:  # noqa: ANN001
    """Offsets ``[(2r+1)^2, 2]`` as (dx, dy), x-major: row ``a (2r+1) + b`` is ``(a - r, b - r)``."""
    steps = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    dx, dy = torch.meshgrid(steps, steps, indexing="ij")  # dx varies along dim 0 (slow)
    return torch.stack([dx, dy], dim=-1).reshape(-1, 2)  # [2r+1, 2r+1, 2] -> [K, 2]


def build_pyramid(fmaps: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``fmaps [B, S, C, H, W]`` -> ``levels`` maps ``[B S, C, H_i, W_i]`` with ``H_i = floor(H / 2^i)``."""
    b, s, c, height, width = fmaps.shape
    need = 2 ** (levels - 1)
    if height < need or width < need:
        raise ValueError(
            f"feature maps of {height}x{width} are too small for {levels} correlation levels "
            f"(need at least {need}x{need}; the input images must be at least twice that)"
        )
    pyramid = [fmaps.reshape(b * s, c, height, width)]  # [B, S, C, H, W] -> [B*S, C, H, W]
    for _ in range(levels - 1):
        pyramid.append(F.avg_pool2d(pyramid[-1], kernel_size=2, stride=2))
    return pyramid


class CorrPyramid:
    """Correlation pyramid over normalised feature maps ``[B, S, C, H, W]`` (holds no parameters)."""

    def __init__(self, fmaps: torch.Tensor, levels: int, radius: int, method: str = "local"):
        if method not in CORR_METHODS:
            raise ValueError(f"correlation method must be one of {CORR_METHODS}, got {method!r}")
        self.batch, self.frames, self.channels = fmaps.shape[:3]
        self.levels, self.radius, self.method = levels, radius, method
        self.pyramid = build_pyramid(fmaps, levels)

    @property
    def out_dim(self) -> int:
        return self.levels * (2 * self.radius + 1) ** 2

    def sample(self, targets: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """``targets [B, S, N, C]``, ``coords [B, S, N, 2]`` (level-0 pixels) -> ``[B, S, N, L K]``."""
        b, s, n, c = targets.shape
        if (b, s, c) != (self.batch, self.frames, self.channels) or coords.shape != (b, s, n, 2):
            raise ValueError(
                f"targets {tuple(targets.shape)} / coords {tuple(coords.shape)} do not match the pyramid "
                f"(B={self.batch}, S={self.frames}, C={self.channels})"
            )
        targets = targets.reshape(b * s, n, c)  # [B*S, N, C]
        coords = coords.reshape(b * s, n, 2)  # [B*S, N, 2]
        offsets = window_offsets(self.radius, coords.device, coords.dtype)
        read = _read_local if self.method == "local" else _read_volume
        out = [read(level, targets, coords / 2**i, offsets) for i, level in enumerate(self.pyramid)]
        return torch.cat(out, dim=-1).reshape(b, s, n, self.out_dim)  # L x [B*S, N, K] -> [B, S, N, L*K]


def _read_local(level: torch.Tensor, targets: torch.Tensor, centres: torch.Tensor, offsets: torch.Tensor):
    """Window correlations of one level by sampling features: ``[BS, C, H, W]`` -> ``[BS, N, K]``."""
    bs, c = level.shape[:2]
    n, k = centres.shape[1], offsets.shape[0]
    chunk = max(1, LOCAL_CHUNK_ELEMENTS // max(1, bs * c * k))
    norm = math.sqrt(c)
    out = []
    for start in range(0, n, chunk):
        pts = centres[:, start : start + chunk, None] + offsets  # [BS, n, K, 2]
        feats = bilinear_sample(level, pts, "zeros")  # [BS, C, n, K]
        tgt = targets[:, start : start + chunk].to(feats.dtype)  # [BS, n, C]
        out.append(torch.einsum("bcnk,bnc->bnk", feats, tgt) / norm)
    return torch.cat(out, dim=1)


def _read_volume(level: torch.Tensor, targets: torch.Tensor, centres: torch.Tensor, offsets: torch.Tensor):
    """Window correlations of one level from the full volume: ``[BS, C, H, W]`` -> ``[BS, N, K]``."""
    bs, c, height, width = level.shape
    n = centres.shape[1]
    volume = torch.einsum("bnc,bchw->bnhw", targets.to(level.dtype), level) / math.sqrt(c)  # [BS, N, H, W]
    pts = (centres[:, :, None] + offsets).reshape(bs * n, 1, -1, 2)  # [BS N, 1, K, 2]
    return bilinear_sample(volume.reshape(bs * n, 1, height, width), pts, "zeros").reshape(bs, n, -1)  # [BS, N, K]
