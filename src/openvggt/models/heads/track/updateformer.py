"""The tracker's update transformer: time attention per track, space attention through virtual tracks.

Legend: B batch, N tracks, M virtual tracks, T frames, D hidden size, h heads.

Parameter names follow the official checkpoint (``updateformer.*``), including the misspelled
``virual_tracks`` and PyTorch ``nn.MultiheadAttention``'s layout (``in_proj_weight`` rows are Q, K, V).

QUIRK (kept for weight compatibility): both block types replace their input by its normalisation
*before* the residual, i.e. ``x = norm1(x); x = x + attn(x)`` rather than ``x = x + attn(norm1(x))``.

Tracks are coupled: the virtual tracks attend to all real tracks of a frame and the real tracks read
them back, so the output for one query depends on the other queries. Do not split queries into
chunks if you want the official result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openvggt.layers.attention import attention_math
from openvggt.layers.linear import Linear
from openvggt.layers.mlp import Mlp
from openvggt.layers.params import gaussian_parameter

NORM_EPS = 1e-5


class MultiheadAttention(nn.Module):
    """``nn.MultiheadAttention(dim, num_heads, batch_first=True)`` with the same parameters, fused SDPA."""

    use_sdpa: bool = True

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.dim, self.num_heads = dim, num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's own MultiheadAttention initialisation.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``query [Q, Lq, D]`` attends to ``context [Q, Lk, D]`` (itself if None) -> ``[Q, Lq, D]``."""
        w, b = self.in_proj_weight, self.in_proj_bias
        if context is None:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        else:
            d = self.dim
            q = F.linear(query, w[:d], b[:d])
            k, v = F.linear(context, w[d:], b[d:]).chunk(2, dim=-1)
        q, k, v = (self._split_heads(t) for t in (q, k, v))  # each [Q, h, L, d]
        o = F.scaled_dot_product_attention(q, k, v) if self.use_sdpa else attention_math(q, k, v)
        o = o.transpose(1, 2).flatten(2)  # [Q, Lq, h*d], head-major channels
        return self.out_proj(o)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        n, length, _ = t.shape
        return t.reshape(n, length, self.num_heads, -1).transpose(1, 2)  # [Q, L, h*d] -> [Q, h, L, d]


class AttnBlock(nn.Module):
    """Self-attention block: ``x = norm1(x); x = x + attn(x); x = x + mlp(norm2(x))`` on ``[Q, L, D]``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        # Registration order = the official state-dict order.
        self.norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.attn = MultiheadAttention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        x = x + self.attn(x)
        return x + self.mlp(self.norm2(x))


class CrossAttnBlock(nn.Module):
    """Cross-attention block on ``x [Q, Lq, D]`` reading ``context [Q, Lk, D]``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.norm_context = nn.LayerNorm(dim, eps=NORM_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.cross_attn = MultiheadAttention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        x = x + self.cross_attn(x, self.norm_context(context))
        return x + self.mlp(self.norm2(x))


class UpdateTransformer(nn.Module):
    """Maps per-(track, frame) tokens ``[B, N, T, D_in]`` to updates ``[B, N, T, D_out]``.

    Each of the ``depth`` layers runs attention over time for every track (virtual tracks included),
    then, per frame: virtual <- real cross-attention, virtual self-attention, real <- virtual
    cross-attention.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_size: int,
        output_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        num_virtual_tracks: int,
    ):
        super().__init__()
        # Registration order = the official state-dict order.
        self.virual_tracks = gaussian_parameter(1, num_virtual_tracks, 1, hidden_size)  # sic
        self.input_norm = nn.LayerNorm(input_dim, eps=NORM_EPS)
        self.input_transform = Linear(input_dim, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size, eps=NORM_EPS)
        self.flow_head = Linear(hidden_size, output_dim)
        self.time_blocks = nn.ModuleList(AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.space_virtual_blocks = nn.ModuleList(AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.space_point2virtual_blocks = nn.ModuleList(
            CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.space_virtual2point_blocks = nn.ModuleList(
            CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Training-from-scratch initialisation (spec section 9.3)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.flow_head.weight, std=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, N, T, D_in]`` -> ``[B, N, T, D_out]``."""
        b, n, t, _ = x.shape
        tokens = self.input_transform(self.input_norm(x))  # [B, N, T, D]
        init = tokens
        virtual = self.virual_tracks.expand(b, -1, t, -1)  # [B, M, T, D]
        tokens = torch.cat([tokens, virtual], dim=1)  # [B, N', T, D], N' = N + M
        for i in range(len(self.time_blocks)):
            tokens = self._time_attention(self.time_blocks[i], tokens)
            tokens = self._space_attention(i, tokens, n)
        out = tokens[:, :n] + init  # [B, N, T, D]
        return self.flow_head(self.output_norm(out))

    @staticmethod
    def _time_attention(block: AttnBlock, tokens: torch.Tensor) -> torch.Tensor:
        b, n_all, t, d = tokens.shape
        return block(tokens.reshape(b * n_all, t, d)).reshape(b, n_all, t, d)  # [B*N', T, D]: each track over frames

    def _space_attention(self, i: int, tokens: torch.Tensor, n: int) -> torch.Tensor:
        b, n_all, t, d = tokens.shape
        per_frame = tokens.transpose(1, 2).reshape(b * t, n_all, d)  # [B T, N', D]
        points, virtual = per_frame[:, :n], per_frame[:, n:]
        virtual = self.space_virtual2point_blocks[i](virtual, points)
        virtual = self.space_virtual_blocks[i](virtual)
        points = self.space_point2virtual_blocks[i](points, virtual)
        per_frame = torch.cat([points, virtual], dim=1)
        return per_frame.reshape(b, t, n_all, d).transpose(1, 2)  # [B, N', T, D]
