"""DPT head: dense prediction from four aggregated token layers (depth, point map, track features).

Legend: B scenes, S frames, hp x wp patch grid, F fusion features. Each frame is decoded on its own,
so frames are processed in chunks (``frames_chunk_size``) to bound peak memory; results do not
depend on the chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from openvggt.models.config import DPTConfig
from openvggt.models.heads.activations import activate, activate_conf

# Channels of the last hidden layer before the output projection (fixed in the official model).
HEAD_FEATURES_2 = 32


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """``y = relu(x); y + conv2(relu(conv1(y)))``.

    The skip adds the ReLU'd input: the official unit applies an in-place ReLU to its input, and the
    released weights were trained with that behaviour.
    """

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(x)
        return y + self.conv2(F.relu(self.conv1(y)))


class FeatureFusionBlock(nn.Module):
    def __init__(self, features: int, has_residual: bool = True):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        if has_residual:
            self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.has_residual = has_residual

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        if skip is not None and self.has_residual:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            size = (int(x.shape[-2] * 2), int(x.shape[-1] * 2))
        return self.out_conv(_resize(x, size))


class _Scratch(nn.Module):
    """Container that reproduces the official ``scratch.*`` parameter names."""

    def __init__(self, in_channels: tuple[int, ...], features: int, output_dim: int, feature_only: bool):
        super().__init__()
        for i, ch in enumerate(in_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(ch, features, 3, padding=1, bias=False))
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features, has_residual=False)
        if feature_only:
            self.output_conv1 = nn.Conv2d(features, features, 3, padding=1)
        else:
            self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
            self.output_conv2 = nn.Sequential(
                nn.Conv2d(features // 2, HEAD_FEATURES_2, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(HEAD_FEATURES_2, output_dim, 1),
            )


class DPTHead(nn.Module):
    def __init__(
        self,
        dim_in: int,
        cfg: DPTConfig,
        patch_size: int = 14,
        output_dim: int = 4,
        activation: str = "inv_log",
        conf_activation: str = "expp1",
        features: int | None = None,
        pos_embed: bool | None = None,
        feature_only: bool = False,
        down_ratio: int = 1,
    ):
        super().__init__()
        features = features or cfg.features
        oc = tuple(cfg.out_channels)
        self.cfg = cfg
        self.patch_size = patch_size
        self.activation = activation
        self.conf_activation = conf_activation
        self.use_pos_embed = cfg.pos_embed if pos_embed is None else pos_embed
        self.feature_only = feature_only
        self.down_ratio = down_ratio
        self.layer_idx = tuple(cfg.intermediate_layer_idx)
        self.frames_chunk_size = cfg.frames_chunk_size

        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, ch, 1) for ch in oc)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = _Scratch(oc, features, output_dim, feature_only)
        self._pos_cache: dict[tuple, torch.Tensor] = {}

    def forward(
        self,
        tokens: Mapping[int, torch.Tensor],
        image_hw: tuple[int, int],
        patch_start_idx: int,
        frames_chunk_size: int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Decode dense maps.

        Args:
            tokens: aggregated layers ``{index: [B, S, P, 2C]}`` (a list works too).
            image_hw: input image size ``(H, W)``.
            patch_start_idx: index of the first patch token in P.
        Returns:
            feature-only: ``[B, S, F, H/down, W/down]``; otherwise ``(preds [B, S, H, W, output_dim-1],
            conf [B, S, H, W])``.
        """
        first = tokens[self.layer_idx[0]]
        b, s = first.shape[:2]
        chunk = frames_chunk_size if frames_chunk_size is not None else self.frames_chunk_size
        if chunk is None or chunk >= s:
            return self._forward_frames(tokens, image_hw, patch_start_idx, slice(0, s))
        parts = [
            self._forward_frames(tokens, image_hw, patch_start_idx, slice(i, min(i + chunk, s)))
            for i in range(0, s, chunk)
        ]
        if self.feature_only:
            return torch.cat(parts, dim=1)
        return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=1)

    def _forward_frames(self, tokens, image_hw, patch_start_idx, frames: slice):  # noqa: ANN001
        height, width = image_hw
        hp, wp = height // self.patch_size, width // self.patch_size
        levels = []
        for level, idx in enumerate(self.layer_idx):
            t = tokens[idx][:, frames, patch_start_idx:]  # [B, S', hp*wp, 2C]
            b, s = t.shape[:2]
            t = self.norm(t.reshape(b * s, hp * wp, -1))  # [B*S', h*w, 2C]
            t = t.transpose(1, 2).reshape(b * s, -1, hp, wp)  # [B*S', 2C, hp, wp]
            t = self.projects[level](t)
            if self.use_pos_embed:
                t = self._add_pos(t, width, height)
            levels.append(self.resize_layers[level](t))
        out = self._fuse(levels)
        out = _resize(out, (int(hp * self.patch_size / self.down_ratio), int(wp * self.patch_size / self.down_ratio)))
        if self.use_pos_embed:
            out = self._add_pos(out, width, height)
        if self.feature_only:
            return out.reshape(b, s, *out.shape[1:])  # [B*S', F, H', W'] -> [B, S', F, H', W']
        out = self.scratch.output_conv2(out)  # [B*S', output_dim, H, W]
        out = out.permute(0, 2, 3, 1)  # [B*S', output_dim, H, W] -> [B*S', H, W, output_dim]
        preds = activate(out[..., :-1], self.activation)
        conf = activate_conf(out[..., -1], self.conf_activation)
        # [B*S', H, W, o-1] -> [B, S', H, W, o-1] and [B*S', H, W] -> [B, S', H, W]
        return preds.reshape(b, s, *preds.shape[1:]), conf.reshape(b, s, *conf.shape[1:])

    def _fuse(self, levels: list[torch.Tensor]) -> torch.Tensor:
        sc = self.scratch
        r1, r2, r3, r4 = (getattr(sc, f"layer{i}_rn")(x) for i, x in enumerate(levels, start=1))
        out = sc.refinenet4(r4, size=r3.shape[-2:])
        out = sc.refinenet3(out, r3, size=r2.shape[-2:])
        out = sc.refinenet2(out, r2, size=r1.shape[-2:])
        out = sc.refinenet1(out, r1)
        return sc.output_conv1(out)

    def _add_pos(self, x: torch.Tensor, width: int, height: int) -> torch.Tensor:
        ch, hh, ww = x.shape[1:]
        key = (ch, hh, ww, width, height, x.device, x.dtype)
        emb = self._pos_cache.get(key)
        if emb is None:
            emb = uv_sincos_embedding(ch, hh, ww, width / height, x.dtype, x.device)
            if len(self._pos_cache) >= 16:  # five shapes per image size; keep a few image sizes
                self._pos_cache.clear()
            self._pos_cache[key] = emb
        out = x + 0.1 * emb  # emb is fp32, as in the official model (promotes under autocast)
        # A model cast to bf16/fp16 without autocast must stay in its dtype.
        return out if torch.is_autocast_enabled(x.device.type) else out.to(x.dtype)


def uv_grid(hh: int, ww: int, aspect: float, dtype: torch.dtype, device=None) -> torch.Tensor:  # noqa: ANN001
    """``[hh, ww, 2]`` (u, v) grid spanning a centred rectangle of the image aspect on the unit circle."""
    diag = math.sqrt(aspect**2 + 1)
    span_x, span_y = aspect / diag, 1 / diag
    xs = torch.linspace(-span_x * (ww - 1) / ww, span_x * (ww - 1) / ww, ww, dtype=dtype, device=device)
    ys = torch.linspace(-span_y * (hh - 1) / hh, span_y * (hh - 1) / hh, hh, dtype=dtype, device=device)
    v, u = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([u, v], dim=-1)


def sincos_1d(pos: torch.Tensor, dim: int, omega0: float = 100.0) -> torch.Tensor:
    """``[..., dim]``: ``[sin(p w_0..), cos(p w_0..)]`` with ``w_k = omega0^(-k / (dim/2))`` in float64."""
    half = dim // 2
    omega = 1.0 / omega0 ** (torch.arange(half, dtype=torch.float64, device=pos.device) / half)
    angles = pos[..., None].to(torch.float64) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def uv_sincos_embedding(ch: int, hh: int, ww: int, aspect: float, dtype: torch.dtype, device=None) -> torch.Tensor:  # noqa: ANN001
    """``[1, ch, hh, ww]`` embedding: u half first, then v; computed in float64, returned as fp32."""
    grid = uv_grid(hh, ww, aspect, dtype, device)
    emb = torch.cat([sincos_1d(grid[..., 0], ch // 2), sincos_1d(grid[..., 1], ch // 2)], dim=-1)
    return emb.float().permute(2, 0, 1).unsqueeze(0)  # [hh, ww, ch] -> [1, ch, hh, ww]
