"""Track head: a DPT feature extractor (half resolution) feeding the iterative point tracker.

Shape legend (docs/architecture.md): B scenes, S frames, N query points, C track-feature channels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from openvggt.models.config import DPTConfig, TrackHeadConfig
from openvggt.models.heads.dpt import DPTHead
from openvggt.models.heads.track.tracker import TrackPredictor

MIN_TRACK_SIDE = 128  # pixels per side of the input: the correlation pyramid needs the room


class TrackHead(nn.Module):
    def __init__(self, dim_in: int, cfg: TrackHeadConfig, dpt_cfg: DPTConfig, patch_size: int = 14):
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = DPTHead(
            dim_in,
            dpt_cfg,
            patch_size=patch_size,
            features=cfg.features,
            pos_embed=False,
            feature_only=True,
            down_ratio=cfg.stride,
        )
        self.tracker = TrackPredictor(cfg)

    def forward(
        self,
        tokens: Mapping[int, torch.Tensor],
        image_hw: tuple[int, int],
        patch_start_idx: int,
        query_points: torch.Tensor,
        iters: int | None = None,
        apply_sigmoid: bool = True,
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Track ``query_points [B, N, 2]`` (x, y pixels in frame 0) through all frames.

        Returns ``(tracks per iteration: list of [B, S, N, 2], vis [B, S, N], conf [B, S, N])``.
        """
        if min(image_hw) < MIN_TRACK_SIDE:
            raise ValueError(f"the track head needs images of at least {MIN_TRACK_SIDE} px per side, got {image_hw}")
        fmaps = self.feature_extractor(tokens, image_hw, patch_start_idx)  # [B, S, F, H/2, W/2]
        return self.tracker(query_points, fmaps, iters=iters, apply_sigmoid=apply_sigmoid)
