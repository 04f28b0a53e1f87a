"""VGGT: images of one scene in, cameras / depth / point maps / tracks out, in one forward pass.

Legend: B scenes, S frames, H x W image size (multiples of 14), N query points.
Conventions: cameras are OpenCV (x right, y down, z forward), extrinsics world-to-camera, the world
frame is the first camera's frame; quaternions are xyzw (scalar last).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openvggt.heads.camera import CameraHead
from openvggt.heads.dpt import DPTHead
from openvggt.models.aggregator import Aggregator
from openvggt.models.config import VGGTConfig

HEADS = ("camera", "depth", "point", "track")


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


class VGGT(nn.Module):
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
            from openvggt.heads.track import TrackHead

            self.track_head = TrackHead(dim, cfg.track_head, cfg.dpt, cfg.patch_size)
        else:
            self.track_head = None
        # None: run camera/depth/point heads in fp32 under CUDA autocast only (official behaviour);
        # True: always fp32; False: inherit the caller's autocast on every device.
        self.heads_fp32: bool | None = None

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, source: str | Path, config: VGGTConfig | str | None = None, **kwargs: Any
    ) -> VGGT:
        """Load weights from a ``.pt``/``.pth``/``.safetensors`` file, a folder, or a Hugging Face repo id.

        See :func:`openvggt.io.checkpoint.load_model` for the resolution rules and options.
        """
        from openvggt.io.checkpoint import load_model

        return load_model(source, config=config, model_cls=cls, **kwargs)

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
        image_hw = (images.shape[-2], images.shape[-1])

        tokens, patch_start_idx = self.aggregator(images, layers=self.layers_for(run))
        out = VGGTOutput()
        with self._heads_precision(images.device.type):
            if "camera" in run:
                cam_tokens = tokens[self.config.depth - 1][:, :, 0]  # [B, S, 2C]
                out.pose_enc_list = self.camera_head(cam_tokens)
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
        if not self.training:
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
