"""The chunk loop: run chunks one after another, align each to the previous one, keep results on disk.

Each chunk is predicted in its own world (its first camera, its own scale). Chunk ``k``'s similarity
``S_k`` maps its world onto chunk ``k-1``'s; fitted on the overlap frames' points (same frame, same pixel)
with :func:`openvggt.longseq.sim3.robust_sim3`. The pose of chunk ``k`` in the sequence world (frame 0's,
the first chunk's) is ``G_k = G_{k-1} S_k``. Only the current chunk and the previous chunk's overlap frames
are in memory; everything else is in the :class:`~openvggt.longseq.store.ChunkStore`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from openvggt.errors import InputError
from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.io.images import ImageMeta
from openvggt.longseq.plan import Chunk
from openvggt.longseq.sim3 import RobustFit, robust_sim3
from openvggt.longseq.source import FrameSource
from openvggt.longseq.store import ChunkPrediction, ChunkStore

log = logging.getLogger(__name__)

FOV_RANGE_RAD = (float(np.radians(1.0)), float(np.radians(170.0)))
DESCRIPTOR_SIDE = 16


class ChunkModel:
    """What the chunk loop runs: ``model(frame_indices) -> ChunkPrediction`` (plus ``metas`` when known)."""

    metas: dict[int, ImageMeta]

    def __call__(self, frames: Sequence[int]) -> ChunkPrediction:
        raise NotImplementedError


class PredictorChunkModel(ChunkModel):
    """A :class:`openvggt.Predictor` on frames of a :class:`FrameSource` (camera and depth heads)."""

    def __init__(self, predictor, source: FrameSource):  # noqa: ANN001 - openvggt.Predictor
        self.predictor, self.source = predictor, source
        self.metas: dict[int, ImageMeta] = {}

    def __call__(self, frames: Sequence[int]) -> ChunkPrediction:
        frames = [int(f) for f in frames]
        tensor, metas = self.predictor.preprocess([self.source[f] for f in frames])  # [1, n, 3, H, W]
        out = self.predictor(tensor, heads=("camera", "depth"))
        tensor_hw = tuple(tensor.shape[-2:])
        for f, meta in zip(frames, metas or []):
            self.metas[f] = meta
        pose_enc = out.pose_enc[0].double().clone()
        fov = pose_enc[:, 7:9]
        bad = ~((fov >= FOV_RANGE_RAD[0]) & (fov <= FOV_RANGE_RAD[1])).all(-1)
        if bad.any():  # an untrained model can predict a zero field of view (an infinite focal length)
            log.warning("%d frame(s) have a degenerate field of view; clamped to [1, 170] degrees", int(bad.sum()))
            pose_enc[:, 7:9] = torch.nan_to_num(fov, nan=FOV_RANGE_RAD[1]).clamp(*FOV_RANGE_RAD)
        extrinsics, intrinsics = pose_encoding_to_extri_intri(pose_enc, tuple(tensor_hw))
        depth = out.depth[0, ..., 0].numpy().astype(np.float32)
        valid = np.stack([footprint(m, tensor_hw) for m in metas]) if metas else np.ones(depth.shape, bool)
        images = (tensor[0].permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return ChunkPrediction(
            frames=np.array(frames, np.int64),
            depth=np.where(valid, depth, 0.0).astype(np.float32),
            conf=out.depth_conf[0].numpy().astype(np.float32),
            valid=valid,
            images=images,
            extrinsics=extrinsics.numpy(),
            intrinsics=intrinsics.numpy(),
        )


def footprint(meta: ImageMeta, hw: tuple[int, int]) -> np.ndarray:
    """``[H, W]`` bool: model pixels that show the original image (not the white padding)."""
    w, h = meta.original_size
    (x0, y0), (x1, y1) = meta.original_to_model(np.array([[0.0, 0.0], [w, h]]))
    mask = np.zeros(hw, bool)
    mask[max(0, round(y0)) : min(hw[0], round(y1)), max(0, round(x0)) : min(hw[1], round(x1))] = True
    return mask


def descriptors(images: np.ndarray) -> np.ndarray:
    """``[n, D]`` unit-norm image descriptors of ``images [n, H, W, 3]`` uint8: a zero-mean 16-px-wide
    grey thumbnail plus its gradients (cosine similarity compares them; used for revisit detection)."""
    out = []
    for image in images:
        side = (DESCRIPTOR_SIDE, max(4, round(DESCRIPTOR_SIDE * image.shape[0] / image.shape[1])))
        grey = np.asarray(Image.fromarray(image).convert("L").resize(side, Image.Resampling.BOX), np.float32)
        gy, gx = np.gradient(grey)
        d = np.concatenate([(grey - grey.mean()).ravel(), gx.ravel(), gy.ravel()])
        out.append(d / max(float(np.linalg.norm(d)), 1e-6))
    return np.stack(out).astype(np.float32)


# ---------------------------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class AlignOptions:
    loss: str = "huber"  # IRLS weight: "huber" or "cauchy"
    conf_percentile: float = 30.0  # drop the least confident points of each prediction
    max_points: int = 30_000  # point pairs used per fit (a random, seeded subset)
    seed: int = 0


def overlap_pairs(
    dst: ChunkPrediction, src: ChunkPrediction, frames: Sequence[int], options: AlignOptions = AlignOptions()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src points, dst points, confidence) ``[N, 3], [N, 3], [N]`` of the same pixels of ``frames``."""
    a, b = dst.select(frames), src.select(frames)
    usable = a.valid & b.valid & (a.depth > 0) & (b.depth > 0) & np.isfinite(a.depth) & np.isfinite(b.depth)
    usable &= np.isfinite(a.conf) & np.isfinite(b.conf)
    if options.conf_percentile > 0 and usable.any():
        usable &= a.conf >= np.percentile(a.conf[usable], options.conf_percentile)
        usable &= b.conf >= np.percentile(b.conf[usable], options.conf_percentile) if usable.any() else usable
    idx = np.flatnonzero(usable)
    if len(idx) > options.max_points:
        idx = np.sort(np.random.default_rng(options.seed).choice(idx, options.max_points, replace=False))
    n, h, w = usable.shape
    rows, v, u = np.unravel_index(idx, (n, h, w))
    pa, pb = a.points(), b.points()
    conf = np.sqrt(a.conf[rows, v, u].astype(np.float64) * b.conf[rows, v, u])
    conf = np.minimum(conf, np.percentile(conf, 99)) if len(conf) else conf
    return pb[rows, v, u], pa[rows, v, u], conf


def align_chunks(
    dst: ChunkPrediction, src: ChunkPrediction, frames: Sequence[int], options: AlignOptions = AlignOptions()
) -> RobustFit:
    """The similarity mapping ``src``'s world onto ``dst``'s, fitted on the shared ``frames``."""
    src_pts, dst_pts, conf = overlap_pairs(dst, src, frames, options)
    if len(src_pts) < 3:
        raise InputError(f"chunks share no usable points on frames {list(frames)[:4]}...; use a larger --overlap")
    return robust_sim3(src_pts, dst_pts, conf, loss=options.loss)


# ---------------------------------------------------------------------------------------------- the loop
@dataclass
class ChunkedRun:
    """What the chunk loop produced. ``poses[k] [4, 4]`` maps chunk k's world into the sequence world."""

    plan: list[Chunk]
    store: ChunkStore
    poses: list[np.ndarray]
    fits: list[RobustFit | None]  # fits[k]: chunk k onto chunk k-1 (None for k = 0)
    descriptors: np.ndarray  # [S, D]
    metas: dict[int, ImageMeta] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # per chunk (model + alignment + store)
    edges: list = field(default_factory=list)  # loop-closure edges, when run (see openvggt.longseq.loop)
    poses_before_loops: list[np.ndarray] | None = None

    @property
    def num_frames(self) -> int:
        return self.plan[-1].end

    def owner(self, frame: int) -> Chunk:
        for chunk in self.plan:
            if chunk.own_start <= frame < chunk.end:
                return chunk
        raise IndexError(frame)


def run_chunks(
    model: ChunkModel,
    plan: list[Chunk],
    store: ChunkStore,
    options: AlignOptions = AlignOptions(),
    progress: bool = True,
) -> ChunkedRun:
    """Run every chunk of ``plan`` through ``model``, align it to the previous one, store it."""
    poses: list[np.ndarray] = []
    fits: list[RobustFit | None] = []
    descs: list[np.ndarray] = []
    seconds: list[float] = []
    previous: ChunkPrediction | None = None
    bar = tqdm(plan, desc="chunks", unit="chunk", disable=not progress or None)
    for chunk in bar:
        start = time.perf_counter()
        pred = model(chunk.frames)
        if len(pred.frames) != len(chunk) or list(pred.frames) != list(chunk.frames):
            raise RuntimeError(f"chunk {chunk.index}: the model returned frames {list(pred.frames)[:4]}...")
        if previous is None:
            poses.append(np.eye(4))
            fits.append(None)
        else:
            shared = [f for f in chunk.frames if f in set(previous.frames.tolist())]
            fit = align_chunks(previous, pred, shared, options)
            poses.append(poses[-1] @ fit.matrix)
            fits.append(fit)
            bar.set_postfix(scale=f"{fit.scale:.3f}", residual=f"{fit.median_residual:.2g}")
            log.debug(
                "chunk %d -> %d: scale %.4f, median residual %.3g, %.0f%% inliers",
                chunk.index,
                chunk.index - 1,
                fit.scale,
                fit.median_residual,
                100 * fit.inlier_fraction,
            )
        new = pred.frames >= chunk.own_start
        descs.append(descriptors(pred.images[new]))
        store.save(chunk.index, pred)
        nxt = chunk.index + 1
        previous = pred.select(range(plan[nxt].start, chunk.end)) if nxt < len(plan) else None
        del pred
        seconds.append(time.perf_counter() - start)
    return ChunkedRun(plan, store, poses, fits, np.concatenate(descs), dict(getattr(model, "metas", {})), seconds)
