"""Analytic primitives for the synthetic ray caster: quads, boxes, spheres and capped cylinders.

Every primitive is a centre ``c``, an orthonormal frame ``A`` (``[3, 3]``, columns are the local
x, y, z axes) and half extents ``h`` (``[3]``):

* quad: a two-sided rectangle in the local xy plane, ``|x| <= h0``, ``|y| <= h1`` (``h2`` unused);
* box: ``|x| <= h0, |y| <= h1, |z| <= h2``;
* sphere: radius ``h0``;
* cylinder: axis local z, radius ``h0``, ``|z| <= h2``, closed by two caps.

Intersection runs in camera coordinates (OpenCV, camera at the origin) on rays
``d = (dx, dy, 1)``: the ray parameter of a hit is then its z-depth, exact by construction.
``dx`` and ``dy`` only need to broadcast against each other, so a pinhole image grid is passed as
``[n, 1, W]`` and ``[n, H, 1]`` without materialising ``[n, H, W, 3]`` directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUAD, BOX, SPHERE, CYLINDER = 0, 1, 2, 3
KIND_NAMES = {QUAD: "quad", BOX: "box", SPHERE: "sphere", CYLINDER: "cylinder"}
_CORNER_SIGNS = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], np.float64)


@dataclass(frozen=True)
class Primitive:
    """One primitive in world coordinates; ``material`` indexes the scene's material list."""

    kind: int
    centre: np.ndarray  # [3] world
    axes: np.ndarray  # [3, 3] columns = local x, y, z in world, orthonormal, right-handed
    half: np.ndarray  # [3] half extents (see module docstring)
    material: int
    casts_shadow: bool = True

    def corners(self) -> np.ndarray:
        """``[8, 3]`` world corners of a box that contains the primitive."""
        half = self.half.copy()
        if self.kind == QUAD:
            half[2] = 0.0
        elif self.kind == SPHERE:
            half[:] = half[0]
        elif self.kind == CYLINDER:
            half[1] = half[0]
        return self.centre + (_CORNER_SIGNS * half) @ self.axes.T

    def contains(self, point: np.ndarray, margin: float = 0.0) -> bool:
        """Whether world ``point`` ``[3]`` lies inside the solid grown by ``margin`` (quads: never)."""
        q = self.axes.T @ (np.asarray(point, np.float64) - self.centre)
        h = self.half + margin
        if self.kind == BOX:
            return bool(np.all(np.abs(q) <= h))
        if self.kind == SPHERE:
            return bool(q @ q <= h[0] ** 2)
        if self.kind == CYLINDER:
            return bool(q[0] ** 2 + q[1] ** 2 <= h[0] ** 2 and abs(q[2]) <= h[2])
        return False


def _dot(v: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``v . (dx, dy, 1)`` broadcast over the ray arrays."""
    return dx * np.float32(v[0]) + dy * np.float32(v[1]) + np.float32(v[2])


def intersect(kind: int, c: np.ndarray, A: np.ndarray, h: np.ndarray, dx, dy, near: float) -> np.ndarray:
    """Depth of the first hit beyond ``near`` along rays ``(dx, dy, 1)``; ``inf`` where missed.

    ``c [3]``, ``A [3, 3]``: the primitive in camera coordinates; ``dx``, ``dy``: broadcastable float32
    arrays. Returns float32 with their broadcast shape.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == QUAD:
            t = _quad(c, A, h, dx, dy, near)
        elif kind == BOX:
            t = _box(c, A, h, dx, dy, near)
        elif kind == SPHERE:
            t = _sphere(c, h[0], dx, dy, near)
        else:
            t = _cylinder(c, A, h, dx, dy, near)
    return t


def _quad(c, A, h, dx, dy, near):
    t = np.float32(A[:, 2] @ c) / _dot(A[:, 2], dx, dy)
    s1 = t * _dot(A[:, 0], dx, dy) - np.float32(A[:, 0] @ c)
    s2 = t * _dot(A[:, 1], dx, dy) - np.float32(A[:, 1] @ c)
    ok = (t > near) & (np.abs(s1) <= h[0]) & (np.abs(s2) <= h[1])
    return np.where(ok, t, np.float32(np.inf))


def _box(c, A, h, dx, dy, near):
    t_near = t_far = None
    for k in range(3):
        inv = np.float32(1.0) / _dot(A[:, k], dx, dy)
        ac = np.float32(A[:, k] @ c)
        t1 = (ac - np.float32(h[k])) * inv
        t2 = (ac + np.float32(h[k])) * inv
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        t_near = lo if t_near is None else np.maximum(t_near, lo)
        t_far = hi if t_far is None else np.minimum(t_far, hi)
    ok = (t_near <= t_far) & (t_near > near)
    return np.where(ok, t_near, np.float32(np.inf))


def _sphere(c, r, dx, dy, near):
    dd = dx * dx + dy * dy + np.float32(1.0)
    b = _dot(c, dx, dy)
    # disc = b^2 - dd (|c|^2 - r^2) written as dd r^2 - |d x c|^2 (no cancellation of large terms).
    c0, c1, c2 = (np.float32(x) for x in c)
    k0, k1, k2 = dy * c2 - c1, c0 - dx * c2, dx * c1 - dy * c0
    disc = dd * np.float32(r * r) - (k0 * k0 + k1 * k1 + k2 * k2)
    # Near root written as (|c|^2 - r^2) / (b + sqrt(disc)): stable for small or far spheres.
    t = np.float32(c @ c - r * r) / (b + np.sqrt(np.maximum(disc, 0)))
    return np.where((disc >= 0) & (t > near), t, np.float32(np.inf))


def _cylinder(c, A, h, dx, dy, near):
    a = A[:, 2]
    r, hz = float(h[0]), float(h[2])
    # The side: a circle problem in the cylinder's local xy plane (rays d projected onto it).
    ex, ey = _dot(A[:, 0], dx, dy), _dot(A[:, 1], dx, dy)
    cx, cy = np.float32(A[:, 0] @ c), np.float32(A[:, 1] @ c)
    qa = ex * ex + ey * ey
    qb = ex * cx + ey * cy
    cross = ex * cy - ey * cx
    disc = qa * np.float32(r * r) - cross * cross  # = qb^2 - qa (|c_xy|^2 - r^2), without cancellation
    t = np.float32(float(cx) ** 2 + float(cy) ** 2 - r * r) / (qb + np.sqrt(np.maximum(disc, 0)))
    da = _dot(a, dx, dy)
    ca = float(a @ c)
    s = t * da - np.float32(ca)
    t = np.where((disc >= 0) & (np.abs(s) <= hz) & (t > near), t, np.float32(np.inf))
    # The camera sees at most one cap from outside: the one on its side of the slab |s| <= hz.
    s_cam = -ca
    if abs(s_cam) > hz:
        cap = np.float32(ca + np.sign(s_cam) * hz)
        tc = cap / da
        qx = tc * ex - cx
        qy = tc * ey - cy
        rad2 = qx * qx + qy * qy
        t = np.where((rad2 <= r * r) & (tc > near) & (tc < t), tc, t)
    return t


def surface(kind: int, c: np.ndarray, A: np.ndarray, h: np.ndarray, p: np.ndarray):
    """Normals and texture coordinates at hit points (planar layout: one row per coordinate).

    ``p``: ``[3, M]`` camera-frame hit points on the primitive given in camera coordinates by
    ``c``, ``A``. Returns ``normal [3, M]`` (camera frame, unit, outward; two-sided quads not yet
    flipped) and ``uv [2, M]`` in metres on the surface, computed in the primitive's own frame so
    that they do not depend on the camera.
    """
    A32 = A.astype(np.float32)
    q = A32.T @ (p - c.astype(np.float32)[:, None])  # [3, M] local coordinates
    m = q.shape[1]
    if kind == QUAD:
        n_local = np.zeros_like(q)
        n_local[2] = 1.0
        uv = q[:2]
    elif kind == BOX:
        k = np.argmax(np.abs(q) / h.astype(np.float32)[:, None], axis=0)  # [M] which slab was hit
        cols = np.arange(m)
        n_local = np.zeros_like(q)
        n_local[k, cols] = np.sign(q[k, cols])
        # The two in-face coordinates; faces get distinct offsets so that patterns do not line up.
        u = q[np.array([1, 2, 0])[k], cols] + np.float32(0.37) * k
        v = q[np.array([2, 0, 1])[k], cols] + np.float32(0.11) * k
        uv = np.stack([u, v])
    elif kind == SPHERE:
        r = np.float32(h[0])
        n_local = q / r
        uv = np.stack([np.arctan2(q[1], q[0]), np.arcsin(np.clip(n_local[2], -1, 1))]) * r
    else:
        r, hz = np.float32(h[0]), np.float32(h[2])
        on_cap = np.abs(q[2]) >= hz * np.float32(1 - 1e-4)
        rad = np.sqrt(q[0] * q[0] + q[1] * q[1]) + np.float32(1e-12)
        cap_sign = np.sign(q[2])
        n_local = np.stack(
            [np.where(on_cap, 0, q[0] / rad), np.where(on_cap, 0, q[1] / rad), np.where(on_cap, cap_sign, 0)]
        ).astype(np.float32)
        uv = np.stack([np.where(on_cap, q[0], np.arctan2(q[1], q[0]) * r), np.where(on_cap, q[1], q[2])])
    return A32 @ n_local, uv
