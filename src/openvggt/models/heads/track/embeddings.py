"""Constant sinusoidal embeddings of the tracker: the flow embedding and the 2-D sin-cos table.

Both follow the official numerics (spec section 7.5): the angles are formed in the input's precision
(float64 for the table) and the values are rounded to float32. In a float64 forward pass these
fp32-rounded values are then promoted back to float64, exactly as the official code does; the 2-D
table is moreover *sampled* in float32. Both roundings were confirmed against the parity fixture.
Shape legend (docs/architecture.md): B scenes, N points, D embedding width, H x W feature grid.
"""

from __future__ import annotations

import torch

from openvggt.models.heads.track.sampling import sample_points

# Base of the geometric frequency ladder of the 2-D table.
SINCOS_BASE = 10000.0
# Numerator of the flow embedding's linear frequency step (step = 2 * FLOW_FREQ_SCALE / dim).
FLOW_FREQ_SCALE = 1000.0


def flow_embedding(xy: torch.Tensor, dim: int) -> torch.Tensor:
    """Embed flows ``xy [..., 2]`` -> ``[..., 2 * dim]``: ``dim`` values for x, then ``dim`` for y.

    Linear (not geometric) frequencies ``div[k] = 2k * 1000 / dim`` (k < dim / 2, fp32), interleaved
    ``[sin(x div_0), cos(x div_0), sin(x div_1), ...]``. Values are fp32-rounded; the result has the
    promoted dtype of ``xy`` and float32.
    """
    if dim % 2:
        raise ValueError(f"flow embedding dim must be even, got {dim}")
    div = torch.arange(0, dim, 2, device=xy.device, dtype=torch.float32) * (FLOW_FREQ_SCALE / dim)
    angles = xy[..., None] * div.to(torch.promote_types(xy.dtype, torch.float32))  # [..., 2, dim/2]
    emb = torch.stack([angles.sin(), angles.cos()], dim=-1)  # [..., 2, dim/2, 2] interleaved
    emb = emb.to(torch.float32).flatten(-3)  # [..., 2 * dim], x block first
    return emb.to(torch.promote_types(xy.dtype, torch.float32))


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``positions [...]`` -> ``[..., dim]`` = ``[sin(p w_0..), cos(p w_0..)]``, ``w_k = 10000^(-k/(dim/2))``.

    Frequencies and products in float64, result rounded to float32.
    """
    if dim % 2:
        raise ValueError(f"sin-cos embedding dim must be even, got {dim}")
    half = dim // 2
    omega = torch.arange(half, dtype=torch.float64, device=positions.device) / (dim / 2.0)
    omega = 1.0 / SINCOS_BASE**omega  # [dim/2]
    angles = positions.to(torch.float32).to(torch.float64)[..., None] * omega  # [..., dim/2]
    return torch.cat([angles.sin(), angles.cos()], dim=-1).to(torch.float32)


def sincos_2d_table(dim: int, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """The 2-D sin-cos table ``[1, dim, height, width]`` (fp32, a broadcast view: do not write to it).

    Channels ``[0, dim/2)`` embed the column (x) index, ``[dim/2, dim)`` the row (y) index.
    """
    x_half, y_half = _sincos_2d_halves(dim, height, width, device)
    return torch.cat([x_half, y_half], dim=1)


def sincos_2d_sample(points: torch.Tensor, dim: int, height: int, width: int) -> torch.Tensor:
    """The table of :func:`sincos_2d_table` sampled bilinearly (border padding) at ``points [B, N, 2]``.

    Returns ``[B, N, dim]`` in the dtype of ``points``. Official numerics: the fp32 table is sampled in
    fp32 (``grid_sample``, coordinates cast to fp32 and normalised in fp32) whatever the compute dtype.
    A float64 forward pass only matches the official one with this rounding (checked on the parity
    fixture: float64 sampling moves the final tracks by 4e-6 relative, visibility by 2e-4).
    Each half is sampled from a stride-0 broadcast view, so the ``dim x H x W`` table is never
    materialised; ``grid_sample`` treats channels independently, so the result is bit-identical.
    """
    b, n, _ = points.shape
    flat = points.reshape(1, b * n, 2).to(torch.float32)  # [B, N, 2] -> [1, B*N, 2]: one table serves every batch
    halves = _sincos_2d_halves(dim, height, width, points.device)
    out = torch.cat([sample_points(half, flat, "border") for half in halves], dim=-1)  # [1, B N, dim]
    return out.reshape(b, n, dim).to(points.dtype)  # [1, B*N, dim] -> [B, N, dim]


def _sincos_2d_halves(dim: int, height: int, width: int, device) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Broadcast views ``[1, dim/2, H, W]`` of the column (x) and row (y) embeddings."""
    _check_2d_dim(dim)
    cols = sincos_1d(torch.arange(width, device=device), dim // 2)  # [W, dim/2]
    rows = sincos_1d(torch.arange(height, device=device), dim // 2)  # [H, dim/2]
    x_half = cols.T[None, :, None, :].expand(-1, -1, height, -1)
    y_half = rows.T[None, :, :, None].expand(-1, -1, -1, width)
    return x_half, y_half


def _check_2d_dim(dim: int) -> None:
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding dim must be a multiple of 4, got {dim}")
