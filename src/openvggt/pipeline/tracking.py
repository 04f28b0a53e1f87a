"""Point tracking with the track head, from any query frame: the primitives the track job and BA build on.

The track head treats frame 0 as the query frame. Its feature extractor works on every frame on
its own and the tracker's only notion of frame order is "frame 0 versus the rest" (one learned
token for the query frame, one shared by all others; time attention has no positional code). So
tracking from frame ``q`` is the same computation with the frames reordered ``[q, others...]``:
we compute the feature maps once from the aggregator's tokens (which are NOT recomputed: the
aggregator's frame 0 is special), reorder them per query frame, run the tracker and undo the order.

Coordinates: ``(x, y)`` model-input pixels with pixel centres at integers. Legend: S frames, N queries,
C track-feature channels, h x w = H/2 x W/2 feature grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from openvggt.errors import InputError
from openvggt.models.heads.track.head import MIN_TRACK_SIDE
from openvggt.models.vggt import Intermediates
from openvggt.predictor import Predictor

log = logging.getLogger(__name__)


@dataclass
class Tracks:
    """Tracks in model-input pixels (pixel centres at integers)."""

    xy: np.ndarray  # [S, N, 2]
    vis: np.ndarray  # [S, N] visibility probability
    conf: np.ndarray  # [S, N] confidence probability
    query_frame: np.ndarray  # [N] int
    query_xy: np.ndarray  # [N, 2]


def feature_maps(predictor: Predictor, inter: Intermediates) -> torch.Tensor:
    """Track features ``[1, S, C, h, w]`` of every frame, from kept intermediates."""
    model = predictor.model
    if model.track_head is None:
        raise InputError("this model has no track head (needed for tracking and --ba)")
    if min(inter.image_hw) < MIN_TRACK_SIDE:
        raise InputError(
            f"tracking needs images of at least {MIN_TRACK_SIDE} px per side; the model input is "
            f"{inter.image_hw[1]}x{inter.image_hw[0]} (raise --size or use --mode pad)"
        )
    with torch.inference_mode(), predictor.precision():
        return model.track_head.feature_extractor(inter.tokens, inter.image_hw, inter.patch_start_idx)


def track_from_frame(
    predictor: Predictor, fmaps: torch.Tensor, query_frame: int, queries: torch.Tensor, iters: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Track ``queries [N, 2]`` (model pixels in frame ``query_frame``) through ``fmaps [1, S, C, h, w]``.

    Returns ``xy [S, N, 2]``, ``vis [S, N]``, ``conf [S, N]`` (float32, CPU) in the original frame order.
    """
    s = fmaps.shape[1]
    order = [query_frame] + [i for i in range(s) if i != query_frame]
    inverse = torch.as_tensor(np.argsort(order))
    device = fmaps.device
    with torch.inference_mode(), predictor.precision():
        coords, vis, conf = predictor.model.track_head.tracker(
            queries[None].to(device, torch.float32), fmaps[:, order], iters=iters
        )  # coords: per iteration [1, S, N, 2]; vis, conf: [1, S, N]
    xy = coords[-1][0].float().cpu()[inverse]  # [S, N, 2]
    vis = vis[0].float().cpu()[inverse]
    conf = torch.ones_like(vis) if conf is None else conf[0].float().cpu()[inverse]
    return xy, vis, conf


def track_queries(
    predictor: Predictor,
    fmaps: torch.Tensor,
    query_frame: np.ndarray,
    query_xy: np.ndarray,
    iters: int | None = None,
    chunk: int = 1024,
) -> Tracks:
    """Track queries given per point (``query_frame [N]``, ``query_xy [N, 2]`` model pixels).

    Queries of one frame are refined together (the tracker couples them), at most ``chunk`` at a time.
    """
    s, n = fmaps.shape[1], len(query_frame)
    xy, vis, conf = np.zeros((s, n, 2), np.float32), np.zeros((s, n), np.float32), np.zeros((s, n), np.float32)
    groups = [
        idx[i : i + chunk] for f in np.unique(query_frame) for idx in [np.nonzero(query_frame == f)[0]]
        for i in range(0, len(idx), chunk)
    ]  # fmt: skip
    for idx in tqdm(groups, desc="tracking", unit="query frame", disable=None if len(groups) > 1 else True):
        q = torch.as_tensor(query_xy[idx], dtype=torch.float32)
        t_xy, t_vis, t_conf = track_from_frame(predictor, fmaps, int(query_frame[idx[0]]), q, iters)
        xy[:, idx], vis[:, idx], conf[:, idx] = t_xy.numpy(), t_vis.numpy(), t_conf.numpy()
    return Tracks(xy, vis, conf, np.asarray(query_frame), np.asarray(query_xy, np.float32))
