"""Pre-norm transformer block with LayerScale: ``x + ls1*attn(norm1 x)``, ``x + ls2*mlp(norm2 x)``.

Shape legend (docs/architecture.md): B batch of sequences, L tokens, C width (``x [B, L, C]``).
"""

from __future__ import annotations

import torch
from torch import nn

from openvggt.layers.attention import Attention, RopeTables
from openvggt.layers.layer_scale import LayerScale
from openvggt.layers.mlp import Mlp
from openvggt.layers.rope import RotaryPositionEmbedding2D


class Block(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        ffn_bias: bool = True,
        init_values: float | None = None,
        norm_eps: float = 1e-5,
        qk_norm: bool = False,
        rope: RotaryPositionEmbedding2D | None = None,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, proj_bias, qk_norm=qk_norm, rope=rope)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=ffn_bias)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(
        self, x: torch.Tensor, rope_tables: RopeTables | None = None, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope_tables, attn_mask))
        return x + self.ls2(self.mlp(self.norm2(x)))
