"""Image tokenisers: a plain patch convolution and a DINOv2 ViT with register tokens.

Only the normalised patch tokens leave the DINOv2 encoder; its class and register outputs are
discarded by VGGT. Parameter names follow DINOv2 so its checkpoints load unchanged.
Shape legend (docs/architecture.md): B images, C width, h x w patch grid (``[B, 3, H, W] -> [B, h*w, C]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from openvggt.layers.block import Block

POS_EMBEDS = ("none", "sincos")  # what the patch convolution may add to its tokens


def sincos_table(h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 2-D sine-cosine positions of an ``h x w`` patch grid, ``[h*w, dim]`` row-major, in float32.

    The first half of the channels encodes the row index, the second half the column index; each half is
    ``[sin(i * f_k), cos(i * f_k)]`` over ``dim / 4`` frequencies ``f_k = 100^(-k / (dim / 4))`` (periods from
    2 pi to ~600 patches, so every grid up to 518 px stays unambiguous). Integer patch indices, as the RoPE uses,
    so any grid size gets the same code for the same patch.
    """
    if dim % 4:
        raise ValueError(f"a 2-D sine-cosine table needs dim divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 100.0 ** (-torch.arange(quarter, dtype=torch.float64, device=device) / quarter)  # [dim/4]
    rows = torch.arange(h, dtype=torch.float64, device=device).repeat_interleave(w)  # [h*w]
    cols = torch.arange(w, dtype=torch.float64, device=device).repeat(h)  # [h*w]
    parts = []
    for idx in (rows, cols):
        angle = idx[:, None] * freqs[None]  # [h*w, dim/4]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1).float()  # [h*w, dim]


class PatchEmbed(nn.Module):
    """``[N, 3, H, W]`` -> ``[N, (H/p)*(W/p), C]`` patch tokens, row-major over the patch grid.

    ``pos_embed="sincos"`` adds :func:`sincos_table` (no parameters); ``"none"`` leaves the tokens position-free.
    """

    def __init__(self, patch_size: int, embed_dim: int, in_chans: int = 3, pos_embed: str = "none"):
        super().__init__()
        if pos_embed not in POS_EMBEDS:
            raise ValueError(f"unknown pos_embed {pos_embed!r}; choose one of {POS_EMBEDS}")
        self.patch_size = patch_size
        self.pos_embed = pos_embed
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {self.patch_size}")
        tokens = self.proj(x).flatten(2).transpose(1, 2)  # [B, C, h, w] -> [B, h*w, C]
        if self.pos_embed == "sincos":
            table = sincos_table(h // self.patch_size, w // self.patch_size, tokens.shape[-1], x.device)
            tokens = tokens + table.to(tokens.dtype)  # [h*w, C] broadcast over B
        return tokens


class DinoV2Encoder(nn.Module):
    """DINOv2 ViT with register tokens (LayerScale, LayerNorm eps 1e-6, GELU MLP)."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        patch_size: int = 14,
        img_size: int = 518,
        num_register_tokens: int = 4,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.grid0 = img_size // patch_size  # side of the stored positional grid (37 for 518)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid0**2 + 1, embed_dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        # Present for checkpoint compatibility; masked pre-training is not part of VGGT.
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim), requires_grad=False)
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, init_values=1.0, norm_eps=1e-6) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.grad_checkpointing = False

    def positional_embedding(self, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        """``[1, 1 + h*w, C]`` table for an ``h x w`` patch grid (antialiased bicubic resize)."""
        n0 = self.grid0
        if h * w == n0 * n0 and h == w:
            return self.pos_embed.to(dtype)
        pos = self.pos_embed.float()
        cls, grid = pos[:, :1], pos[:, 1:]
        grid = grid.reshape(1, n0, n0, -1).permute(0, 3, 1, 2)  # [1, C, n0, n0]
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)  # [1, h*w, C]
        return torch.cat([cls, grid], dim=1).to(dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, 3, H, W]`` (normalised) -> patch tokens ``[N, h*w, C]``."""
        n, _, height, width = images.shape
        h, w = height // self.patch_size, width // self.patch_size
        x = self.patch_embed(images)  # [N, h*w, C]
        x = torch.cat([self.cls_token.expand(n, -1, -1).to(x.dtype), x], dim=1)
        x = x + self.positional_embedding(h, w, x.dtype)
        regs = self.register_tokens.expand(n, -1, -1).to(x.dtype)
        x = torch.cat([x[:, :1], regs, x[:, 1:]], dim=1)  # [N, 1 + R + h*w, C]
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = self.norm(x)
        return x[:, 1 + self.num_register_tokens :]
