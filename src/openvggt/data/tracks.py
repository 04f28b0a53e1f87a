"""Point-track supervision from depth (the recipe of ARCHITECTURE.md §9.5, our own code).

Query points are valid pixels of frame 0. Each is unprojected with frame 0's depth and projected
into every frame; it counts as visible there when it lands inside the image (away from the
border) and its projected depth agrees with that frame's depth at one of the four pixels around
it. Tracks are pixel coordinates ``(x, y)`` = (column, row), pixel centres at integers.
"""

from __future__ import annotations

import numpy as np


def project(points: np.ndarray, extrinsics: np.ndarray, intrinsics: np.ndarray):
    """World ``points [N, 3]`` into every camera: returns ``uv [S, N, 2]`` and ``z [S, N]``."""
    cam = np.matmul(points[None], np.swapaxes(extrinsics[:, :, :3], 1, 2)) + extrinsics[:, None, :, 3]
    z = cam[..., 2]
    safe = np.where(np.abs(z) > 1e-12, z, 1e-12)
    u = intrinsics[:, None, 0, 0] * cam[..., 0] / safe + intrinsics[:, None, 0, 2]
    v = intrinsics[:, None, 1, 1] * cam[..., 1] / safe + intrinsics[:, None, 1, 2]
    return np.stack([u, v], axis=-1), z


def track_visibility(uv, z, depths, border: int = 4, rel_tol: float = 0.05) -> np.ndarray:
    """``[S, N]`` bool: inside the image by ``border`` px and depth-consistent with ``depths [S, H, W]``."""
    S, H, W = depths.shape
    iu = np.floor(uv[..., 0]).astype(np.int64)
    iv = np.floor(uv[..., 1]).astype(np.int64)
    inside = (iu >= border) & (iu < W - border) & (iv >= border) & (iv < H - border) & (z > 0)
    iu = np.where(inside, iu, 0)
    iv = np.where(inside, iv, 0)
    s = np.arange(S)[:, None]
    consistent = np.zeros_like(inside)
    for du in (0, 1):
        for dv in (0, 1):
            d = depths[s, np.minimum(iv + dv, H - 1), np.minimum(iu + du, W - 1)]
            diff = np.abs(z - d)
            consistent |= (d > 0) & (diff < rel_tol * z) & (diff < rel_tol * d)
    return inside & consistent


def _fundamental(E0, Es, K0, Ks) -> np.ndarray:
    """``[3, 3]`` F with ``x_s^T F x_0 = 0`` for pixel coordinates of frames 0 and s."""
    R = Es[:, :3] @ E0[:, :3].T
    t = Es[:, 3] - R @ E0[:, 3]
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return np.linalg.inv(Ks).T @ tx @ R @ np.linalg.inv(K0)


def _sampson(F: np.ndarray, x0: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sampson distance in pixels of correspondences ``x0, xs [N, 2]``."""
    h0 = np.concatenate([x0, np.ones((len(x0), 1))], axis=1)
    hs = np.concatenate([xs, np.ones((len(xs), 1))], axis=1)
    Fx0 = h0 @ F.T
    Ftxs = hs @ F
    num = np.einsum("ni,ni->n", hs, Fx0) ** 2
    den = Fx0[:, 0] ** 2 + Fx0[:, 1] ** 2 + Ftxs[:, 0] ** 2 + Ftxs[:, 1] ** 2
    return np.sqrt(num / np.maximum(den, 1e-12))


def build_tracks(
    extrinsics,
    intrinsics,
    world_points,
    depths,
    masks,
    num_tracks: int,
    rng: np.random.Generator,
    epipolar_px: float = 16.0,
    rel_tol: float = 0.05,
    max_queries: int | None = None,
):
    """Track supervision queried in frame 0.

    ``extrinsics [S, 3, 4]``, ``intrinsics [S, 3, 3]``, ``world_points [S, H, W, 3]``,
    ``depths [S, H, W]`` (0 = invalid), ``masks [S, H, W]``. Returns ``tracks [S, T, 2]`` float32,
    ``vis [S, T]`` bool and ``positive [T]`` bool with ``T = num_tracks``. Positives are visible in
    frame 0 and at least one other frame, preferring points seen in many frames; the rest are
    negatives (visibility False everywhere) whose positions in other frames are kept at least
    ``epipolar_px`` from frame 0's epipolar line. ``rel_tol``: relative depth agreement that counts
    as visible (0.05 as in the official recipe; exact synthetic depth allows much less).
    ``max_queries``: frame-0 pixels considered (a random subset; default ``max(16 T, 4096)``): the
    official recipe projects all of them, which costs far more than it changes.
    """
    S, H, W = depths.shape
    ys, xs = np.nonzero(masks[0])
    limit = max_queries or max(16 * num_tracks, 4096)
    if len(ys) > limit:
        keep = np.sort(rng.choice(len(ys), limit, replace=False))
        ys, xs = ys[keep], xs[keep]
    uv, z = project(world_points[0][ys, xs], extrinsics, intrinsics)
    vis = track_visibility(uv, z, depths, rel_tol=rel_tol)
    count = vis.sum(axis=0)
    cand = np.nonzero(vis[0] & (count >= 2))[0]
    cand = cand[np.argsort(-count[cand], kind="stable")]
    if len(cand) // 2 > num_tracks:
        cand = cand[: len(cand) // 2]
    pick = rng.choice(cand, size=min(num_tracks, len(cand)), replace=False) if len(cand) else cand
    tracks = np.zeros((S, num_tracks, 2), np.float32)
    out_vis = np.zeros((S, num_tracks), bool)
    positive = np.zeros(num_tracks, bool)
    n_pos = len(pick)
    tracks[:, :n_pos] = uv[:, pick]
    out_vis[:, :n_pos] = vis[:, pick]
    positive[:n_pos] = True
    if n_pos < num_tracks:
        tracks[:, n_pos:] = _negatives(extrinsics, intrinsics, (H, W), num_tracks - n_pos, rng, epipolar_px)
    return tracks, out_vis, positive


def _negatives(extrinsics, intrinsics, hw, n: int, rng, epipolar_px: float) -> np.ndarray:
    """``[S, n, 2]`` random non-corresponding positions (far from the epipolar line of the query)."""
    S = len(extrinsics)
    H, W = hw
    m = 4 * n
    q = np.stack([rng.integers(0, W, m), rng.integers(0, H, m)], axis=1).astype(np.float64)
    pos = np.repeat(q[None], S, axis=0)
    ok = np.ones(m, bool)
    for s in range(1, S):
        pos[s] = (q + rng.random((m, 2)) * [0.5 * W, 0.5 * H]) % [W, H]
        F = _fundamental(extrinsics[0], extrinsics[s], intrinsics[0], intrinsics[s])
        ok &= _sampson(F, q, pos[s]) > epipolar_px
    good = np.nonzero(ok)[0]
    if len(good) == 0:
        good = np.arange(m)  # degenerate geometry (e.g. identical cameras): keep random positions
    idx = rng.choice(good, size=n, replace=len(good) < n)
    return pos[:, idx].astype(np.float32)
