"""Multi-head self-attention with optional QK-norm and 2-D RoPE (fused SDPA, explicit-math fallback).

Legend: N sequences, T tokens, C channels, h heads, d = C / h head dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openvggt.layers.linear import Linear
from openvggt.layers.rope import RotaryPositionEmbedding2D

RopeTables = tuple[torch.Tensor, torch.Tensor]


def attention_math(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Reference ``softmax(q k^T / sqrt(d)) v`` for ``[N, h, T, d]`` inputs (tests compare SDPA to it)."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # [..., Lq, d] @ [..., d, Lk] -> [..., Lq, Lk]
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


class Attention(nn.Module):
    use_sdpa: bool = True

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
        rope: RotaryPositionEmbedding2D | None = None,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.proj = Linear(dim, dim, bias=proj_bias)
        self.rope = rope

    def forward(
        self, x: torch.Tensor, rope_tables: RopeTables | None = None, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x [N, T, C]`` -> ``[N, T, C]``.

        ``rope_tables``: cos/sin ``[T, d]`` when RoPE is on; ``attn_mask``: optional boolean ``[T, T]``
        (True = may attend), used only by the cross-attention ablation.
        """
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, self.head_dim)  # [N, T, 3, h, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [N, h, T, d]
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None and rope_tables is not None:
            q = self.rope.apply(q, rope_tables)
            k = self.rope.apply(k, rope_tables)
        # Under autocast the norms return fp32 while v is low precision: use one dtype for SDPA.
        q, k = q.to(v.dtype), k.to(v.dtype)
        if self.use_sdpa:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        else:
            o = attention_math(q, k, v, attn_mask)
        o = o.transpose(1, 2).reshape(n, t, c)  # [N, T, h*d], head-major channels
        return self.proj(o)
