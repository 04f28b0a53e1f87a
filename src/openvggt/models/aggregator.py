"""The VGGT aggregator: DINOv2 patch tokens + alternating frame-wise / global attention.

Legend: B scenes, S frames per scene, P tokens per frame (1 camera + R registers + h*w patches),
C embed dim. The aggregated token of layer i is ``[frame-block output, global-block output]``
concatenated on channels, ``[B, S, P, 2C]``.

Memory: the official model keeps all ``depth`` layer outputs although the heads read four of them.
``forward(images, layers=...)`` keeps only the requested layers.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from openvggt.layers import (
    Block,
    DinoV2Encoder,
    PatchEmbed,
    RotaryPositionEmbedding2D,
    gaussian_parameter,
    patch_positions,
)
from openvggt.layers.token_merge import merged_block_forward
from openvggt.models.config import VGGTConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

AggregatedTokens = dict[int, torch.Tensor]  # layer index -> [B, S, P, 2C]


class Aggregator(nn.Module):
    def __init__(self, cfg: VGGTConfig):
        super().__init__()
        self.cfg = cfg
        c, pe = cfg.embed_dim, cfg.patch_embed
        if pe.arch == "conv":
            self.patch_embed: nn.Module = PatchEmbed(cfg.patch_size, c, pos_embed=pe.pos_embed)
        elif pe.arch == "dinov2_reg":
            self.patch_embed = DinoV2Encoder(
                c, pe.depth, pe.num_heads, pe.mlp_ratio, cfg.patch_size, pe.img_size, pe.num_register_tokens
            )
        else:
            raise ValueError(f"unknown patch embedder {pe.arch!r}")
        self.rope = RotaryPositionEmbedding2D(cfg.rope_freq) if cfg.rope_freq > 0 else None

        def make_blocks() -> nn.ModuleList:
            return nn.ModuleList(
                Block(
                    c,
                    cfg.num_heads,
                    cfg.mlp_ratio,
                    cfg.qkv_bias,
                    cfg.proj_bias,
                    cfg.ffn_bias,
                    init_values=cfg.init_values,
                    qk_norm=cfg.qk_norm,
                    rope=self.rope,
                )
                for _ in range(cfg.depth)
            )

        self.frame_blocks = make_blocks()
        self.global_blocks = make_blocks()
        # Index 0: the first frame's token; index 1: shared by every other frame.
        self.camera_token = gaussian_parameter(1, 2, 1, c, std=1e-6)
        self.register_token = gaussian_parameter(1, 2, cfg.num_register_tokens, c, std=1e-6)
        self.patch_start_idx = 1 + cfg.num_register_tokens
        # Both [1, 1, 3, 1, 1], broadcast over images [B, S, 3, H, W].
        self.register_buffer("_resnet_mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("_resnet_std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False)
        self.grad_checkpointing = False
        # Runtime flag, not architecture: token merging ratio of the global attention (0 = exact, the default;
        # see openvggt.layers.token_merge). Not saved in checkpoints.
        self.merge_ratio = 0.0

    def restore_buffers(self, device: str | torch.device) -> None:
        """Rebuild the non-persistent buffers, which a model built on the meta device leaves empty."""
        self._resnet_mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 1, 3, 1, 1)  # [1, 1, 3, 1, 1]
        self._resnet_std = torch.tensor(IMAGENET_STD, device=device).view(1, 1, 3, 1, 1)  # [1, 1, 3, 1, 1]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
        if isinstance(self.patch_embed, DinoV2Encoder):
            self.patch_embed.grad_checkpointing = enable

    # ------------------------------------------------------------------------------------------
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``images [B, S, 3, H, W]`` in [0, 1] -> frame tokens ``[B*S, P, C]``."""
        b, s = images.shape[:2]
        x = (images - self._resnet_mean.to(images.dtype)) / self._resnet_std.to(images.dtype)
        patches = self.patch_embed(x.reshape(b * s, *x.shape[2:]))  # [B*S, h*w, C]
        dtype = patches.dtype
        cam = _first_and_rest(self.camera_token, b, s).to(dtype)  # [B*S, 1, C]
        reg = _first_and_rest(self.register_token, b, s).to(dtype)  # [B*S, R, C]
        return torch.cat([cam, reg, patches], dim=1)

    def forward(self, images: torch.Tensor, layers: Iterable[int] | None = None) -> tuple[AggregatedTokens, int]:
        """Run the trunk.

        Args:
            images: ``[B, S, 3, H, W]`` RGB in [0, 1], H and W multiples of the patch size.
            layers: which layer outputs to keep (indices in ``[0, depth)``, negatives allowed);
                ``None`` keeps all of them.
        Returns:
            ``({layer index: [B, S, P, 2C]}, patch_start_idx)``.
        """
        if images.ndim != 5:
            raise ValueError(f"expected images [B, S, 3, H, W], got shape {tuple(images.shape)}")
        cfg = self.cfg
        b, s, _, height, width = images.shape
        keep = set(range(cfg.depth)) if layers is None else {i % cfg.depth for i in layers}
        tokens = self.embed(images)  # [B*S, P, C]
        p, c = tokens.shape[1:]
        h, w = height // cfg.patch_size, width // cfg.patch_size
        rope_frame = rope_global = None
        if self.rope is not None:
            pos = patch_positions(h, w, self.patch_start_idx, device=images.device)  # [P, 2]
            rope_frame = self.rope.tables(pos, cfg.head_dim, tokens.dtype)
            rope_global = tuple(t.repeat(s, 1) for t in rope_frame)  # [S*P, d]
        cross_mask = _other_frames_mask(s, p, images.device) if cfg.attention == "cross" else None

        out: AggregatedTokens = {}
        k = cfg.aa_block_size
        for start in range(0, cfg.depth, k):
            frame_out: dict[int, torch.Tensor] = {}
            for i in range(start, start + k):
                if cfg.attention == "global":  # [B, S*P, C]: every frame's tokens together
                    tokens = self._run(self.frame_blocks[i], tokens.reshape(b, s * p, c), rope_global)
                else:  # [B*S, P, C]: each frame on its own
                    tokens = self._run(self.frame_blocks[i], tokens.reshape(b * s, p, c), rope_frame)
                if i in keep:
                    frame_out[i] = tokens.reshape(b, s, p, c)  # [B*S, P, C] -> [B, S, P, C]
            for i in range(start, start + k):
                # [B, S*P, C]: attention across the tokens of every frame (optionally on merged tokens)
                if self.merge_ratio > 0 and s > 1 and cross_mask is None:
                    tokens = merged_block_forward(
                        self.global_blocks[i], tokens.reshape(b, s * p, c), rope_global, s, self.patch_start_idx,
                        (h, w), self.merge_ratio,
                    )  # fmt: skip
                else:
                    tokens = self._run(self.global_blocks[i], tokens.reshape(b, s * p, c), rope_global, cross_mask)
                if i in keep:  # frame and global outputs, each [B, S, P, C] -> [B, S, P, 2C]
                    out[i] = torch.cat([frame_out.pop(i), tokens.reshape(b, s, p, c)], dim=-1)
        return out, self.patch_start_idx

    def _run(self, block: Block, x: torch.Tensor, rope, mask=None) -> torch.Tensor:  # noqa: ANN001
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, x, rope, mask, use_reentrant=False)
        return block(x, rope, mask)


def _first_and_rest(token: torch.Tensor, b: int, s: int) -> torch.Tensor:
    """``[1, 2, n, C]`` learned tokens -> ``[B*S, n, C]``: slot 0 for frame 0, slot 1 for the rest."""
    first = token[:, :1]  # [1, 1, n, C]
    rest = token[:, 1:].expand(1, s - 1, *token.shape[2:])
    per_scene = torch.cat([first, rest], dim=1)  # [1, S, n, C]
    return per_scene.expand(b, -1, -1, -1).reshape(b * s, *token.shape[2:])  # [B, S, n, C] -> [B*S, n, C]


def _other_frames_mask(s: int, p: int, device: torch.device) -> torch.Tensor | None:
    """Boolean ``[S*P, S*P]`` mask letting each frame attend only to the other frames' tokens."""
    if s == 1:
        return None
    frame = torch.arange(s, device=device).repeat_interleave(p)
    return frame[:, None] != frame[None, :]
