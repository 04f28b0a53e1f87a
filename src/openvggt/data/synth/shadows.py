"""Hard shadows from a directional light (the sun) for the synthetic ray caster.

Shadow rays from surface points all run parallel to the light, so each occluder only needs testing
against the points whose projection on the plane across the light falls inside its own projected
bounding box. Points are binned on a grid in that plane once per frame and each occluder gathers
the points of the cells it covers. Everything is in camera coordinates, planar ``[3, M]`` layout.
"""

from __future__ import annotations

import numpy as np

from openvggt.data.synth.primitives import BOX, CYLINDER, QUAD, SPHERE, Primitive

_GRID = 48  # cells per side of the binning grid


def _plane_basis(light: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.cross(light, [1.0, 0.0, 0.0] if abs(light[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    return a, np.cross(light, a)


def occluded(
    points: np.ndarray,
    light: np.ndarray,
    occluders: list[tuple[Primitive, np.ndarray, np.ndarray]],
    corners: list[np.ndarray],
) -> np.ndarray:
    """``[M]`` bool: whether the ray from each point ``[3, M]`` towards ``light`` (unit ``[3]``) hits
    an occluder. ``occluders``: (primitive, centre, axes) in camera coordinates; ``corners``: their
    bounding-box corners ``[8, 3]`` in camera coordinates."""
    m = points.shape[1]
    out = np.zeros(m, bool)
    if m == 0 or not occluders:
        return out
    a, b = _plane_basis(light)
    pa, pb = a @ points, b @ points
    lo_a, lo_b = pa.min(), pb.min()
    cell = max(pa.max() - lo_a, pb.max() - lo_b, 1e-9) / _GRID * (1 + 1e-6)
    ia = np.minimum(((pa - lo_a) / cell).astype(np.int64), _GRID - 1)
    ib = np.minimum(((pb - lo_b) / cell).astype(np.int64), _GRID - 1)
    key = ia * _GRID + ib
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    height = light @ points  # position along the light: occluders must lie further along
    for (prim, c, A), box in zip(occluders, corners):
        if (box @ light).max() <= height.min():
            continue
        ba, bb = box @ a, box @ b
        a0, a1 = (int(np.clip(np.floor((v - lo_a) / cell), -1, _GRID)) for v in (ba.min(), ba.max()))
        b0, b1 = (int(np.clip(np.floor((v - lo_b) / cell), -1, _GRID)) for v in (bb.min(), bb.max()))
        a0, b0, a1, b1 = max(a0, 0), max(b0, 0), min(a1, _GRID - 1), min(b1, _GRID - 1)
        if a0 > a1 or b0 > b1:
            continue
        rows = np.arange(a0, a1 + 1) * _GRID
        starts = np.searchsorted(sorted_key, rows + b0)
        ends = np.searchsorted(sorted_key, rows + b1 + 1)
        if not np.any(ends > starts):
            continue
        idx = order[np.concatenate([np.arange(s, e) for s, e in zip(starts, ends) if e > s])]
        idx = idx[~out[idx]]
        if len(idx):
            out[idx] = _hits(prim.kind, c, A, prim.half, points[:, idx], light)
    return out


def _hits(kind: int, c, A, h, origins: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Whether rays ``origins [3, m] + s * light`` hit the primitive for some ``s > 0``."""
    o = A.T.astype(np.float32) @ (origins - c.astype(np.float32)[:, None])  # local origins [3, m]
    L = A.T @ light  # local direction [3]
    L = np.where(np.abs(L) < 1e-12, 1e-12, L)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == QUAD:
            s = -o[2] / np.float32(L[2])
            return (s > 0) & (np.abs(o[0] + s * L[0]) <= h[0]) & (np.abs(o[1] + s * L[1]) <= h[1])
        if kind == SPHERE:
            bq = L.astype(np.float32) @ o
            cq = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - np.float32(h[0] ** 2)
            return (bq * bq - cq >= 0) & (bq < 0) & (cq > 0)
        lo = np.full(o.shape[1], -np.inf, np.float32)
        hi = np.full(o.shape[1], np.inf, np.float32)
        slabs = range(3) if kind == BOX else (2,)
        for k in slabs:
            t1 = (-np.float32(h[k]) - o[k]) / np.float32(L[k])
            t2 = (np.float32(h[k]) - o[k]) / np.float32(L[k])
            lo = np.maximum(lo, np.minimum(t1, t2))
            hi = np.minimum(hi, np.maximum(t1, t2))
        if kind == CYLINDER:
            qa = np.float32(L[0] ** 2 + L[1] ** 2)
            qb = np.float32(L[0]) * o[0] + np.float32(L[1]) * o[1]
            cross = np.float32(L[0]) * o[1] - np.float32(L[1]) * o[0]
            disc = qa * np.float32(h[0] ** 2) - cross * cross
            root = np.sqrt(np.maximum(disc, 0))
            lo = np.where(disc >= 0, np.maximum(lo, (-qb - root) / qa), np.inf)
            hi = np.minimum(hi, (-qb + root) / qa)
        assert kind in (BOX, CYLINDER)
        return (lo <= hi) & (lo > 0)
