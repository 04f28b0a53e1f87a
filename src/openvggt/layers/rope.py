"""2-D rotary position embedding (RoPE) as used by the VGGT aggregator.

A head vector of size D is split in two halves: the first half is rotated by the token's row (y)
position, the second by its column (x) position. Within a half of size F the F/2 angles
``pos * base**(-2i/F)`` are duplicated (not interleaved) and applied with the rotate-half rule.
Camera and register tokens sit at position (0, 0), i.e. they are not rotated.
Shape legend (docs/architecture.md): T tokens, D head width, h x w patch grid.
"""

from __future__ import annotations

import torch
from torch import nn


def patch_positions(h: int, w: int, num_special: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer (y, x) positions for one frame: ``[num_special + h*w, 2]``; patches start at (1, 1)."""
    ys, xs = torch.meshgrid(torch.arange(1, h + 1, device=device), torch.arange(1, w + 1, device=device), indexing="ij")
    grid = torch.stack([ys.reshape(-1), xs.reshape(-1)], dim=-1)  # [h*w, 2] row-major
    special = torch.zeros(num_special, 2, dtype=grid.dtype, device=device)
    return torch.cat([special, grid], dim=0)


class RotaryPositionEmbedding2D(nn.Module):
    """Parameter-free 2-D RoPE. ``tables(pos, head_dim, dtype)`` then ``apply(x, tables)``."""

    def __init__(self, frequency: float = 100.0):
        super().__init__()
        self.base = frequency

    def tables(self, positions: torch.Tensor, head_dim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, signed_sin)`` tables ``[T, head_dim]`` for positions ``[T, 2]`` (y, x).

        Angles are formed in fp32 and cast to ``dtype`` before cos/sin, as the official model does.
        ``signed_sin`` carries the rotate-half sign: ``-sin`` on the first quarter of each axis half.
        """
        half = head_dim // 2
        inv_freq = 1.0 / (self.base ** (torch.arange(0, half, 2, device=positions.device).float() / half))
        cos, sin = [], []
        for axis in (0, 1):  # y then x
            angles = positions[:, axis].float()[:, None] * inv_freq[None, :]  # [T, half/2]
            angles = angles.to(dtype)
            c, s = angles.cos(), angles.sin()
            cos.append(torch.cat([c, c], dim=-1))
            sin.append(torch.cat([-s, s], dim=-1))
        return torch.cat(cos, dim=-1), torch.cat(sin, dim=-1)

    @staticmethod
    def apply(x: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Rotate ``x [..., T, D]`` with tables ``[T, D]`` (broadcast over leading dims).

        Per axis half ``u = [u1, u2]``: ``u * cos + [u2, u1] * signed_sin`` = ``u * cos + rot(u) * sin``
        with ``rot(u) = [-u2, u1]``; the quarter swap is one ``flip`` over a ``[2, 2, D/4]`` view.
        """
        cos, signed_sin = tables
        d = x.shape[-1]
        swapped = x.unflatten(-1, (2, 2, d // 4)).flip(-2).flatten(-3)  # [..., T, 2, 2, D/4] quarters swapped
        return torch.addcmul(x * cos, swapped, signed_sin)
