"""Loop closure: detect revisits, verify each with a joint chunk, optimise the chunk graph over Sim(3).

1. **Detection** — cosine similarity of per-frame image descriptors (:func:`~openvggt.longseq.chunked.
   descriptors`); pairs closer than ``min_gap`` frames (temporal neighbours) are excluded, the best pair per
   region is kept (non-maximum suppression over ``separation`` frames at both ends).
2. **Verification** — a small joint chunk of the two frame groups (``group`` frames around each end, each
   group inside one chunk) runs through the model; its points of each group are fitted (robust Sim(3)) to
   the stored predictions of the group's chunk. Both fits must explain the points (inlier fraction and
   median residual relative to the depth); the two fits give the relative similarity of the two chunks.
3. **Optimisation** — ``scipy.optimize.least_squares`` over the chunk poses (chunk 0 fixed), each a
   log-scale, a rotation vector and a translation; every edge ``(a, b, T_ab)`` (``T_ab`` maps chunk b's
   world into chunk a's) contributes the Sim(3) residual of ``(G_a T_ab)^-1 G_b`` — log-scale, rotation
   vector, translation over the chunk's median depth. Sequential edges are the chunk-to-chunk fits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import lil_matrix
from scipy.spatial.transform import Rotation

from openvggt.longseq.chunked import AlignOptions, ChunkedRun, ChunkModel, align_chunks
from openvggt.longseq.sim3 import RobustFit, to_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopOptions:
    threshold: float = 0.85  # descriptor cosine similarity of a candidate revisit
    min_gap: int | None = None  # frames; default: 2 chunks
    separation: int | None = None  # non-maximum suppression radius in frames; default: 1 chunk
    max_loops: int = 20
    group: int = 4  # frames on each side of the joint chunk
    min_inliers: float = 0.6  # fraction of points within 3 robust sigmas, for both fits
    max_residual: float = 0.05  # median residual / median depth, for both fits


@dataclass(frozen=True)
class Edge:
    a: int  # chunk
    b: int  # chunk
    transform: np.ndarray  # [4, 4] maps chunk b's world into chunk a's
    kind: str  # "sequential" or "loop"
    frames: tuple[int, int] | None = None  # the revisit (frame in a, frame in b)
    similarity: float | None = None


def detect_revisits(desc: np.ndarray, chunk: int, options: LoopOptions = LoopOptions()) -> list[tuple[int, int, float]]:
    """``(i, j, similarity)`` revisit candidates, ``i < j``, from ``desc [S, D]`` unit descriptors."""
    n = len(desc)
    gap = options.min_gap if options.min_gap is not None else 2 * chunk
    sep = options.separation if options.separation is not None else chunk
    best_i = np.full(n, -1)
    best_s = np.full(n, -np.inf, np.float32)
    for start in range(0, n, 512):  # rows in blocks: memory O(512 S), not O(S^2)
        sim = desc[start : start + 512] @ desc.T  # [b, S]
        j = np.arange(start, min(start + 512, n))[:, None]
        sim[np.arange(n)[None, :] > j - gap] = -np.inf  # only earlier frames, at least `gap` away
        best_i[start : start + 512] = sim.argmax(1)
        best_s[start : start + 512] = sim.max(1)
    order = np.argsort(-best_s)
    picked: list[tuple[int, int, float]] = []
    for j in order:
        if best_s[j] < options.threshold or len(picked) >= options.max_loops:
            break
        i = int(best_i[j])
        if all(abs(i - pi) >= sep or abs(int(j) - pj) >= sep for pi, pj, _ in picked):
            picked.append((i, int(j), float(best_s[j])))
    return sorted(picked)


def _group(run: ChunkedRun, frame: int, size: int) -> tuple[int, list[int]]:
    """(owning chunk, up to ``2 size + 1`` frames around ``frame`` inside that chunk)."""
    chunk = run.owner(frame)
    lo, hi = max(chunk.start, frame - size), min(chunk.end, frame + size + 1)
    return chunk.index, list(range(lo, hi))


def verify_revisit(
    model: ChunkModel,
    run: ChunkedRun,
    i: int,
    j: int,
    options: LoopOptions = LoopOptions(),
    align: AlignOptions | None = None,
) -> Edge | None:
    """The loop edge of revisit ``(i, j)`` when a joint chunk confirms it, else None."""
    align = align or AlignOptions()
    a, frames_a = _group(run, i, options.group)
    b, frames_b = _group(run, j, options.group)
    if a == b:
        return None
    joint = model(frames_a + frames_b)
    fits: list[RobustFit] = []
    for chunk, frames in ((a, frames_a), (b, frames_b)):
        stored = run.store.load(chunk)
        fit = align_chunks(stored, joint, frames, align)
        depth = stored.select(frames).depth
        scale = float(np.median(depth[depth > 0])) if (depth > 0).any() else 1.0
        ok = fit.inlier_fraction >= options.min_inliers and fit.median_residual <= options.max_residual * scale
        log.debug(
            "revisit %d-%d, chunk %d: inliers %.2f, residual %.3g (scale %.3g): %s",
            i,
            j,
            chunk,
            fit.inlier_fraction,
            fit.median_residual,
            scale,
            "ok" if ok else "rejected",
        )
        if not ok:
            return None
        fits.append(fit)
    transform = fits[0].matrix @ np.linalg.inv(fits[1].matrix)  # b's world -> joint -> a's world
    return Edge(a, b, transform, "loop", (i, j))


def sequential_edges(run: ChunkedRun) -> list[Edge]:
    return [Edge(k - 1, k, fit.matrix, "sequential") for k, fit in enumerate(run.fits) if fit is not None]


def _pose(x: np.ndarray) -> np.ndarray:
    """``[7]`` (log s, rotation vector, t) -> ``[4, 4]``."""
    return to_matrix(float(np.exp(x[0])), Rotation.from_rotvec(x[1:4]).as_matrix(), x[4:7])


def _params(m: np.ndarray) -> np.ndarray:
    s = float(np.cbrt(np.linalg.det(m[:3, :3])))
    return np.concatenate([[np.log(s)], Rotation.from_matrix(m[:3, :3] / s).as_rotvec(), m[:3, 3]])


def optimise_poses(poses: list[np.ndarray], edges: list[Edge], units: np.ndarray | None = None) -> list[np.ndarray]:
    """Chunk poses ``[4, 4]`` (chunk world -> sequence world) that best agree with ``edges``; chunk 0 fixed.

    ``units [K]``: each chunk's length unit (its median depth) that makes translation residuals unitless.
    """
    k = len(poses)
    if k < 2 or not edges:
        return [p.copy() for p in poses]
    units = np.ones(k) if units is None else np.asarray(units, np.float64)
    inverses = [np.linalg.inv(e.transform) for e in edges]

    def residuals(x: np.ndarray) -> np.ndarray:
        g = [poses[0]] + [_pose(x[7 * i : 7 * i + 7]) for i in range(k - 1)]
        out = np.empty((len(edges), 7))
        for n, (edge, inv) in enumerate(zip(edges, inverses)):
            m = inv @ np.linalg.inv(g[edge.a]) @ g[edge.b]  # identity when the poses agree with the edge
            out[n] = _params(m)
            out[n, 4:] /= units[edge.b]
        return out.ravel()

    # imported here, not at the top: scipy.optimize takes ~0.7 s to import, and every `openvggt` command imports
    # this module (reconstruct may hand long inputs to the chunked path); only loop closure needs it
    from scipy.optimize import least_squares  # noqa: PLC0415

    sparsity = lil_matrix((7 * len(edges), 7 * (k - 1)), dtype=int)
    for n, edge in enumerate(edges):
        for c in (edge.a, edge.b):
            if c > 0:
                sparsity[7 * n : 7 * n + 7, 7 * (c - 1) : 7 * c] = 1
    x0 = np.concatenate([_params(p) for p in poses[1:]])
    result = least_squares(
        residuals, x0, jac_sparsity=sparsity, method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12
    )
    log.info(
        "pose graph: %d chunks, %d edges, cost %.3g -> %.3g (%s)",
        k,
        len(edges),
        0.5 * float(np.sum(residuals(x0) ** 2)),
        float(result.cost),
        result.message,
    )
    return [poses[0]] + [_pose(result.x[7 * i : 7 * i + 7]) for i in range(k - 1)]


def chunk_units(run: ChunkedRun) -> np.ndarray:
    """Median positive depth of each chunk (its length unit)."""
    units = []
    for chunk in run.plan:
        depth = np.asarray(run.store.load(chunk.index).depth[:, ::4, ::4])
        units.append(float(np.median(depth[depth > 0])) if (depth > 0).any() else 1.0)
    return np.array(units)


def close_loops(
    model: ChunkModel, run: ChunkedRun, options: LoopOptions = LoopOptions(), align: AlignOptions | None = None
) -> list[Edge]:
    """Detect, verify and apply loop closures to ``run`` in place; returns the accepted loop edges."""
    align = align or AlignOptions()
    chunk = max(len(c) for c in run.plan)
    candidates = detect_revisits(run.descriptors, chunk, options)
    loops = []
    for i, j, similarity in candidates:
        edge = verify_revisit(model, run, i, j, options, align)
        if edge is not None:
            loops.append(Edge(edge.a, edge.b, edge.transform, "loop", edge.frames, similarity))
    log.info("loop closure: %d candidate revisit(s), %d verified", len(candidates), len(loops))
    run.poses_before_loops = [p.copy() for p in run.poses]
    run.edges = loops
    if loops:
        run.poses = optimise_poses(run.poses, sequential_edges(run) + loops, chunk_units(run))
    return loops
