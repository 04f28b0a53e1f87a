"""Robust, confidence-weighted Sim(3) fits and Sim(3) as 4x4 matrices (numpy, float64).

A similarity ``x -> s R x + t`` is held as the matrix ``[[s R, t], [0, 1]]`` so that composing is a matrix
product and inverting is ``np.linalg.inv``; :class:`openvggt.geometry.Sim3` converts both ways.

Why IRLS and not RANSAC: two chunks' point maps of the same overlap frames correspond *by pixel* — there is
no matching step, so there are no gross mismatches to vote out, only a minority of poor points (depth
discontinuities, sky, reflective or low-texture pixels) with larger errors. An M-estimator fits that case:
iteratively re-weighted least squares keeps every point, weights each by the model's confidence times a
Huber (or Cauchy) weight of its residual, and solves each step in closed form with the weighted Umeyama
fit of :func:`openvggt.geometry.alignment.umeyama_alignment`. It is deterministic, converges in a handful of
steps, and on exact data returns the exact similarity; RANSAC's 3-point minimal samples would be noisy on
dense predictions and need many trials for the same accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openvggt.geometry.alignment import Sim3, umeyama_alignment

__all__ = ["RobustFit", "robust_sim3", "to_matrix", "from_matrix", "apply", "transform_extrinsics"]

LOSSES = ("huber", "cauchy")


@dataclass(frozen=True)
class RobustFit:
    """A fitted similarity (``matrix [4, 4]``) and how well it fits."""

    matrix: np.ndarray  # [4, 4] maps source points onto destination points
    median_residual: float  # of all points, in destination units
    inlier_fraction: float  # points within 3 robust sigmas
    iterations: int
    num_points: int

    @property
    def scale(self) -> float:
        return float(np.cbrt(np.linalg.det(self.matrix[:3, :3])))


def to_matrix(scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = scale * np.asarray(rotation, np.float64)
    m[:3, 3] = translation
    return m


def from_matrix(matrix: np.ndarray) -> Sim3:
    """The :class:`Sim3` of a ``[4, 4]`` similarity matrix."""
    scale = float(np.cbrt(np.linalg.det(matrix[:3, :3])))
    return Sim3(scale, matrix[:3, :3] / scale, matrix[:3, 3].copy())


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[..., 3]`` points through a ``[4, 4]`` similarity."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def transform_extrinsics(matrix: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """``[..., 3, 4]`` world-to-camera re-expressed in the world the similarity maps into (cameras scaled)."""
    return from_matrix(matrix).transform_extrinsics(np.asarray(extrinsics, np.float64))


def _weights(residual: np.ndarray, sigma: float, loss: str, k: float) -> np.ndarray:
    u = residual / max(sigma * k, np.finfo(float).tiny)
    if loss == "huber":
        return np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-300))
    return 1.0 / (1.0 + u * u)  # cauchy


def robust_sim3(
    src: np.ndarray,
    dst: np.ndarray,
    confidence: np.ndarray | None = None,
    loss: str = "huber",
    iterations: int = 20,
    tol: float = 1e-10,
) -> RobustFit:
    """Similarity mapping ``src [N, 3]`` onto ``dst [N, 3]`` by IRLS (see the module docstring).

    ``confidence [N]``: prior weights (e.g. the product of the two predictions' confidences). The robust
    scale is the MAD of the residuals; Huber uses ``k = 1.345`` sigmas, Cauchy ``k = 2.385`` (the usual 95%
    efficiency constants). Stops when the matrix changes by less than ``tol`` (relative).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    prior = np.ones(len(src)) if confidence is None else np.asarray(confidence, np.float64)
    finite = np.isfinite(src).all(-1) & np.isfinite(dst).all(-1) & np.isfinite(prior) & (prior > 0)
    src, dst, prior = src[finite], dst[finite], prior[finite]
    if len(src) < 3:
        raise ValueError(f"a Sim(3) fit needs at least 3 finite point pairs, got {len(src)}")
    k = 1.345 if loss == "huber" else 2.385
    weights = prior
    matrix = to_matrix(*umeyama_alignment(src, dst, weights=weights))
    done = 0
    for step in range(1, iterations + 1):
        done = step
        residual = np.linalg.norm(dst - apply(matrix, src), axis=-1)
        sigma = 1.4826 * float(np.median(residual))
        if sigma <= 1e-15 * (1.0 + float(np.abs(dst).max())):
            break  # (numerically) exact fit
        weights = prior * _weights(residual, sigma, loss, k)
        new = to_matrix(*umeyama_alignment(src, dst, weights=weights))
        change = np.abs(new - matrix).max() / max(np.abs(matrix).max(), 1e-300)
        matrix = new
        if change < tol:
            break
    residual = np.linalg.norm(dst - apply(matrix, src), axis=-1)
    median = float(np.median(residual))
    inliers = float(np.mean(residual <= max(3 * 1.4826 * median, 1e-12)))
    return RobustFit(matrix, median, inliers, done, len(src))
