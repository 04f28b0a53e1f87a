"""The VGGT track predictor: iterative refinement of point tracks from dense frame features.

Legend: B batch, S frames, N query points, C latent channels (``cfg.features``), HH x WW feature
map size, L correlation levels, r correlation radius, D = 3 C + 4 update-transformer input width.

Coordinates are ``(x, y)`` = (column, row) pixels with pixel centres at integers. Frame 0 is the
query frame: queries are given in frame 0 and ``tracks[:, 0]`` always equals them.

Parameter names equal the official ``track_head.tracker.*`` keys, so the official weights load
with ``strict=True``. The algorithm follows spec section 7.5, official quirks included (see the
module docstrings of ``corr``, ``embeddings`` and ``updateformer``).

All queries are refined jointly: the update transformer's virtual tracks couple them, so running
the queries in chunks gives different (not official) results. Memory is therefore bounded inside the
correlation lookup (chunks over queries there are exact) rather than by splitting the queries.
"""

from __future__ import annotations

import torch
from torch import nn

from openvggt.layers.linear import Linear
from openvggt.layers.mlp import Mlp
from openvggt.layers.params import gaussian_parameter
from openvggt.models.config import TrackHeadConfig
from openvggt.models.heads.track.corr import CorrPyramid
from openvggt.models.heads.track.embeddings import flow_embedding, sincos_2d_sample
from openvggt.models.heads.track.sampling import sample_points
from openvggt.models.heads.track.updateformer import NORM_EPS, UpdateTransformer

TrackerOutput = tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]


class TrackPredictor(nn.Module):
    """Predicts tracks, visibility and confidence for query points of frame 0.

    Args:
        cfg: sizes and iteration count (``features`` = C, ``hidden_size``, ``corr_levels``, ...).
        corr_method: ``"local"`` (default) or ``"volume"``; equal results, see ``corr``.
    """

    def __init__(self, cfg: TrackHeadConfig, corr_method: str = "local"):
        super().__init__()
        c = cfg.features
        if c % 4:
            raise ValueError(f"track_head.features must be a multiple of 4, got {c}")
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"track_head.hidden_size {cfg.hidden_size} is not divisible by num_heads {cfg.num_heads}")
        self.cfg = cfg
        self.corr_method = corr_method
        self.transformer_dim = 3 * c + 4  # flow embedding + 4 scaled flows, correlation, track feature
        corr_dim = cfg.corr_levels * (2 * cfg.corr_radius + 1) ** 2

        # Registration order = the official state-dict order.
        self.query_ref_token = gaussian_parameter(1, 2, self.transformer_dim)  # [frame 0, others]
        self.corr_mlp = Mlp(corr_dim, cfg.hidden_size, c)
        self.updateformer = UpdateTransformer(
            input_dim=self.transformer_dim,
            hidden_size=cfg.hidden_size,
            output_dim=c + 2,  # (dx, dy) then the feature update
            depth=cfg.tracker_depth,
            num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio,
            num_virtual_tracks=cfg.num_virtual_tracks,
        )
        self.fmap_norm = nn.LayerNorm(c, eps=NORM_EPS)
        self.ffeat_norm = nn.GroupNorm(1, c, eps=NORM_EPS)
        self.ffeat_updater = nn.Sequential(Linear(c, c), nn.GELU())
        self.vis_predictor = nn.Sequential(Linear(c, 1))
        self.conf_predictor = nn.Sequential(Linear(c, 1)) if cfg.predict_conf else None

    def forward(
        self,
        query_points: torch.Tensor,
        fmaps: torch.Tensor,
        iters: int | None = None,
        apply_sigmoid: bool = True,
    ) -> TrackerOutput:
        """Track ``query_points [B, N, 2]`` (x, y input pixels, frame 0) through ``fmaps [B, S, C, HH, WW]``.

        ``fmaps`` are at ``1 / cfg.stride`` of the input resolution. Returns:

        * ``coord_preds``: ``iters`` tensors ``[B, S, N, 2]`` (x, y input pixels), one per iteration;
        * ``vis``: ``[B, S, N]`` visibility, probabilities (``apply_sigmoid``) or logits;
        * ``conf``: ``[B, S, N]`` confidence likewise, or None when ``cfg.predict_conf`` is off.
        """
        iters = self.cfg.iters if iters is None else iters
        self._check_inputs(query_points, fmaps, iters)
        b, s, c, hh, ww = fmaps.shape
        n = query_points.shape[1]
        fmaps = self.fmap_norm(fmaps.permute(0, 1, 3, 4, 2)).permute(0, 1, 4, 2, 3)  # [B, S, C, HH, WW]
        # Coordinates follow the features' precision but stay at least fp32 (bf16 would quantise them).
        coord_dtype = torch.promote_types(fmaps.dtype, torch.float32)
        queries = query_points.to(coord_dtype) / self.cfg.stride  # [B, N, 2] feature pixels

        pyramid = CorrPyramid(fmaps, self.cfg.corr_levels, self.cfg.corr_radius, self.corr_method)
        feats = sample_points(fmaps[:, 0], queries, "border")[:, None].expand(b, s, n, c)  # [B, S, N, C]
        pos = sincos_2d_sample(queries, self.transformer_dim, hh, ww)[:, :, None]  # [B, N, 1, D]
        ref = self._frame_tokens(s)  # [1, 1, S, D]

        coords = queries[:, None].expand(b, s, n, 2)  # [B, S, N, 2]
        coord_preds = []
        for _ in range(iters):
            coords = coords.detach()
            tokens = self._tokens(pyramid, feats, coords) + pos + ref  # [B, N, S, D]
            delta = self.updateformer(tokens)  # [B, N, S, C + 2]
            feats = self._update_features(feats, delta[..., 2:])
            coords = coords + delta[..., :2].transpose(1, 2)  # [B, N, S, 2] -> [B, S, N, 2]
            coords = torch.cat([queries[:, None], coords[:, 1:]], dim=1)  # frame 0 stays the query
            coord_preds.append(coords * self.cfg.stride)

        vis = self.vis_predictor(feats)[..., 0]  # [B, S, N]
        conf = None if self.conf_predictor is None else self.conf_predictor(feats)[..., 0]
        if apply_sigmoid:
            vis = torch.sigmoid(vis)
            conf = None if conf is None else torch.sigmoid(conf)
        return coord_preds, vis, conf

    def _tokens(self, pyramid: CorrPyramid, feats: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Transformer input ``[B, N, S, D]``: [flow emb (C), flow/max_scale x2, corr (C), feats (C)]."""
        corr = self.corr_mlp(pyramid.sample(feats, coords).transpose(1, 2))  # [B, N, S, C]
        flow = (coords - coords[:, :1]).transpose(1, 2)  # [B, N, S, 2] feature pixels from the query
        scaled = flow / self.cfg.max_scale
        flow_emb = flow_embedding(flow, self.cfg.features // 2)  # [B, N, S, C]
        # QUIRK: the scaled flow is appended twice.
        return torch.cat([flow_emb, scaled, scaled, corr, feats.transpose(1, 2)], dim=-1)  # feats -> [B, N, S, C]

    def _frame_tokens(self, frames: int) -> torch.Tensor:
        """Learned token per frame ``[1, 1, S, D]``: index 0 for the query frame, index 1 for the rest."""
        first, rest = self.query_ref_token[:, :1], self.query_ref_token[:, 1:]
        return torch.cat([first, rest.expand(-1, frames - 1, -1)], dim=1)[:, None]

    def _update_features(self, feats: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        """``feats [B, S, N, C]`` + MLP(GroupNorm(``update [B, N, S, C]``)) -> ``[B, S, N, C]``."""
        b, n, s, c = update.shape
        step = self.ffeat_updater(self.ffeat_norm(update.reshape(-1, c))).reshape(b, n, s, c)  # [B*N*S, C] and back
        return (step + feats.transpose(1, 2)).transpose(1, 2)  # in [B, N, S, C], out [B, S, N, C]

    def _check_inputs(self, query_points: torch.Tensor, fmaps: torch.Tensor, iters: int) -> None:
        if query_points.ndim != 3 or query_points.shape[-1] != 2:
            raise ValueError(f"query_points must be [B, N, 2], got {tuple(query_points.shape)}")
        if fmaps.ndim != 5 or fmaps.shape[2] != self.cfg.features:
            raise ValueError(f"fmaps must be [B, S, {self.cfg.features}, HH, WW], got {tuple(fmaps.shape)}")
        if fmaps.shape[0] != query_points.shape[0]:
            raise ValueError(f"batch of query_points {query_points.shape[0]} != batch of fmaps {fmaps.shape[0]}")
        if iters < 1:
            raise ValueError(f"iters must be at least 1, got {iters}")
