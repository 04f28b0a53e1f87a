"""VGGT: images of one scene in, cameras / depth / point maps / tracks out, in one forward pass.

Shape legend (used in every model module): B scenes, S frames per scene, P tokens per frame
(1 camera + R registers + h*w patches, ``patch_start_idx = 1 + R``), C embed dim (2C: frame || global
tokens), h x w patch grid, H x W image size (multiples of 14), N query points.
Conventions: cameras are OpenCV (x right, y down, z forward), extrinsics world-to-camera, the world
frame is the first camera's frame; quaternions are xyzw (scalar last).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from openvggt.models.aggregator import AggregatedTokens, Aggregator
from openvggt.models.config import VGGTConfig
from openvggt.models.heads.camera import CameraHead
from openvggt.models.heads.dpt import DPTHead
from openvggt.models.heads.track import TrackHead
from openvggt.models.pretrained import HEAD_NAMES, PretrainedMixin

HEADS = HEAD_NAMES


@dataclass
class Intermediates:
    """The aggregator's tokens of some layers: what every head reads, and the backbone features of VGGT.

    ``tokens[layer]`` is ``[B, S, P, 2C]``: the frame-attention output (channels ``:C``) concatenated with the
    global-attention output (channels ``C:``) of that layer.
    """

    tokens: AggregatedTokens
    patch_start_idx: int
    image_hw: tuple[int, int]
    patch_size: int

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted(self.tokens))

    def frame_tokens(self, layer: int) -> torch.Tensor:
        """``[B, S, P, C]`` output of the frame-attention block of ``layer``."""
        x = self.tokens[layer]
        return x[..., : x.shape[-1] // 2]

    def global_tokens(self, layer: int) -> torch.Tensor:
        """``[B, S, P, C]`` output of the global-attention block of ``layer``."""
        x = self.tokens[layer]
        return x[..., x.shape[-1] // 2 :]

    def camera_tokens(self, layer: int) -> torch.Tensor:
        """``[B, S, 2C]`` camera token of every frame."""
        return self.tokens[layer][:, :, 0]

    def patch_grid(self, layer: int) -> torch.Tensor:
        """``[B, S, h, w, 2C]`` patch tokens of ``layer`` on the image's patch grid."""
        x = self.tokens[layer][:, :, self.patch_start_idx :]  # [B, S, h*w, 2C]
        h, w = self.image_hw[0] // self.patch_size, self.image_hw[1] // self.patch_size
        return x.reshape(*x.shape[:2], h, w, x.shape[-1])  # [B, S, h, w, 2C]


@dataclass
class VGGTOutput(Mapping):
    """Model outputs under their official names; also readable as ``out["depth"]``.

    Fields a run did not produce are ``None`` and are not listed by ``keys()``.
    """

    pose_enc: torch.Tensor | None = None  # [B, S, 9] last camera iteration: t(3), quat xyzw(4), fov h/w(2)
    pose_enc_list: list[torch.Tensor] | None = None  # every iteration, each [B, S, 9]
    depth: torch.Tensor | None = None  # [B, S, H, W, 1] z-depth, > 0
    depth_conf: torch.Tensor | None = None  # [B, S, H, W] > 1
    world_points: torch.Tensor | None = None  # [B, S, H, W, 3] in the first camera's frame
    world_points_conf: torch.Tensor | None = None  # [B, S, H, W] > 1
    track: torch.Tensor | None = None  # [B, S, N, 2] (x, y) pixels, last tracker iteration
    track_list: list[torch.Tensor] | None = None  # every tracker iteration, each [B, S, N, 2]
    vis: torch.Tensor | None = None  # [B, S, N] visibility in (0, 1) (logits if asked for)
    conf: torch.Tensor | None = None  # [B, S, N] track confidence in (0, 1) (logits if asked for)
    images: torch.Tensor | None = None  # [B, S, 3, H, W] the input, in eval mode only

    def __getitem__(self, key: str) -> Any:
        if key not in self._names() or getattr(self, key) is None:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._names() if getattr(self, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


class VGGT(nn.Module, PretrainedMixin):
    def __init__(self, config: VGGTConfig | None = None):
        super().__init__()
        cfg = config or VGGTConfig()
        self.config = cfg
        dim = 2 * cfg.embed_dim
        self.aggregator = Aggregator(cfg)
        self.camera_head = CameraHead(dim, cfg.camera_head) if cfg.enable_camera else None
        self.point_head = (
            DPTHead(dim, cfg.dpt, cfg.patch_size, output_dim=4, activation="inv_log", conf_activation="expp1")
            if cfg.enable_point
            else None
        )
        self.depth_head = (
            DPTHead(dim, cfg.dpt, cfg.patch_size, output_dim=2, activation="exp", conf_activation="expp1")
            if cfg.enable_depth
            else None
        )
        if cfg.enable_track:
            self.track_head = TrackHead(dim, cfg.track_head, cfg.dpt, cfg.patch_size)
        else:
            self.track_head = None
        # None: run camera/depth/point heads in fp32 under CUDA autocast only (official behaviour);
        # True: always fp32; False: inherit the caller's autocast on every device.
        self.heads_fp32: bool | None = None

    # ------------------------------------------------------------------------------------------
    def restore_buffers(self, device: str | torch.device) -> None:
        """Rebuild the non-persistent buffers (empty after building on the meta device)."""
        self.aggregator.restore_buffers(device)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.aggregator.set_grad_checkpointing(enable)

    def enabled_heads(self) -> tuple[str, ...]:
        return tuple(name for name in HEADS if getattr(self, f"{name}_head") is not None)

    def layers_for(self, heads: Iterable[str]) -> set[int]:
        """Aggregator layers that the given heads read."""
        cfg = self.config
        layers: set[int] = set()
        for name in heads:
            if name == "camera":
                layers.add(cfg.depth - 1)
            else:
                layers.update(i % cfg.depth for i in cfg.dpt.intermediate_layer_idx)
        return layers

    # ------------------------------------------------------------------------------------------
    def forward(
        self,
        images: torch.Tensor,
        query_points: torch.Tensor | None = None,
        heads: Iterable[str] | None = None,
        track_iters: int | None = None,
        track_logits: bool = False,
    ) -> VGGTOutput:
        """Predict cameras, depth, point maps and (with ``query_points``) tracks.

        Args:
            images: ``[S, 3, H, W]`` or ``[B, S, 3, H, W]`` RGB in [0, 1]; H, W multiples of 14.
            query_points: ``[N, 2]`` or ``[B, N, 2]`` (x, y) pixels in frame 0 to track.
            heads: subset of ``("camera", "depth", "point", "track")`` to run (default: all enabled;
                the track head runs only with query points). Heads not asked for cost nothing.
            track_iters: tracker refinement iterations (default from the config).
            track_logits: return ``vis``/``conf`` as logits (for training losses).
        """
        if images.ndim == 4:
            images = images.unsqueeze(0)
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"expected images [S, 3, H, W] or [B, S, 3, H, W], got {tuple(images.shape)}")
        if query_points is not None and query_points.ndim == 2:
            query_points = query_points.unsqueeze(0)
        run = self._select_heads(heads, query_points is not None)
        inter = self.forward_intermediates(images, layers=self.layers_for(run))
        return self.forward_heads(
            inter, run, query_points, track_iters=track_iters, track_logits=track_logits, images=images
        )

    def forward_intermediates(self, images: torch.Tensor, layers: Iterable[int] | None = None) -> Intermediates:
        """The aggregator's tokens of ``layers`` (default: all ``depth`` layers; negatives count from the end).

        ``images`` is ``[S, 3, H, W]`` or ``[B, S, 3, H, W]`` in [0, 1]. Only the asked-for layers are kept, so
        ``layers=[-1]`` costs one layer's memory. This is VGGT as a feature backbone (timm's naming).
        """
        if images.ndim == 4:
            images = images.unsqueeze(0)  # [S, 3, H, W] -> [1, S, 3, H, W]
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"expected images [S, 3, H, W] or [B, S, 3, H, W], got {tuple(images.shape)}")
        tokens, patch_start_idx = self.aggregator(images, layers=layers)
        return Intermediates(tokens, patch_start_idx, (images.shape[-2], images.shape[-1]), self.config.patch_size)

    def forward_heads(
        self,
        inter: Intermediates,
        heads: Iterable[str] | None = None,
        query_points: torch.Tensor | None = None,
        track_iters: int | None = None,
        track_logits: bool = False,
        images: torch.Tensor | None = None,
    ) -> VGGTOutput:
        """Run ``heads`` on tokens from :meth:`forward_intermediates` (which must hold the layers they read)."""
        if query_points is not None and query_points.ndim == 2:
            query_points = query_points.unsqueeze(0)  # [N, 2] -> [1, N, 2]
        run = self._select_heads(heads, query_points is not None)
        if not run:
            return VGGTOutput()
        missing = self.layers_for(run) - set(inter.tokens)
        if missing:
            raise ValueError(f"heads {run} read layers {sorted(missing)}, which these intermediates do not hold")
        tokens, image_hw, patch_start_idx = inter.tokens, inter.image_hw, inter.patch_start_idx
        out = VGGTOutput()
        device_type = next(iter(tokens.values())).device.type
        with self._heads_precision(device_type):
            if "camera" in run:
                last = self.config.depth - 1
                grid = inter.patch_grid(last) if self.camera_head.motion is not None else None
                out.pose_enc_list = self.camera_head(inter.camera_tokens(last), patch_grid=grid)  # each [B, S, 9]
                out.pose_enc = out.pose_enc_list[-1]
            if "depth" in run:
                out.depth, out.depth_conf = self.depth_head(tokens, image_hw, patch_start_idx)
            if "point" in run:
                out.world_points, out.world_points_conf = self.point_head(tokens, image_hw, patch_start_idx)
        if "track" in run:
            track_list, out.vis, out.conf = self.track_head(
                tokens,
                image_hw,
                patch_start_idx,
                query_points,
                iters=track_iters,
                apply_sigmoid=not track_logits,
            )
            out.track_list, out.track = track_list, track_list[-1]
        if not self.training and images is not None:
            out.images = images
        return out

    def _select_heads(self, heads: Iterable[str] | None, have_queries: bool) -> tuple[str, ...]:
        enabled = self.enabled_heads()
        if heads is None:
            return tuple(h for h in enabled if h != "track" or have_queries)
        heads = tuple(heads)
        for h in heads:
            if h not in HEADS:
                raise ValueError(f"unknown head {h!r}; choose from {HEADS}")
            if h not in enabled:
                raise ValueError(f"the {h} head is disabled in this model")
        if "track" in heads and not have_queries:
            raise ValueError("the track head needs query_points")
        return heads

    def _heads_precision(self, device_type: str) -> contextlib.AbstractContextManager:
        fp32 = self.heads_fp32 if self.heads_fp32 is not None else device_type == "cuda"
        if fp32 and torch.is_autocast_enabled(device_type):
            return torch.autocast(device_type, enabled=False)
        return contextlib.nullcontext()
