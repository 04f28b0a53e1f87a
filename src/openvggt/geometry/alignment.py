"""Similarity (Sim(3)) alignment of point sets and camera trajectories.

A similarity maps ``x -> s R x + t`` (scale ``s > 0``, rotation ``R``, translation ``t``).
Functions accept numpy arrays or torch tensors and answer in the same kind; numpy inputs are
computed in float64, torch inputs in their own (promoted) dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .se3 import camera_centers

__all__ = ["Sim3", "umeyama_alignment", "align_cameras_sim3"]


@dataclass(frozen=True)
class Sim3:
    """A similarity ``x -> scale * rotation @ x + translation`` (numpy or torch fields).

    Fields: ``scale`` ``[]``, ``rotation`` ``[3, 3]``, ``translation`` ``[3]``.
    """

    scale: Tensor | np.ndarray | float
    rotation: Tensor | np.ndarray
    translation: Tensor | np.ndarray

    def transform_points(self, points):
        """``[..., 3]`` points -> ``[..., 3]`` transformed points."""
        return self.scale * (points @ self.rotation.T) + self.translation

    def transform_extrinsics(self, extrinsics):
        """Re-express ``[..., 3, 4]`` world-to-camera extrinsics in the transformed world.

        Camera frames are scaled by ``s`` too, so metric consistency is kept: a camera with centre
        ``c`` gets centre ``s R c + t`` and its rotation becomes ``R_cam R^T``.
        """
        cam_rot = extrinsics[..., :3, :3] @ self.rotation.T  # [..., 3, 3]
        cam_trans = self.scale * extrinsics[..., :3, 3] - cam_rot @ self.translation  # [..., 3]
        if isinstance(cam_rot, Tensor):
            return torch.cat((cam_rot, cam_trans[..., None]), dim=-1)
        return np.concatenate((cam_rot, cam_trans[..., None]), axis=-1)


def _to_torch(*arrays) -> tuple[bool, list[Tensor]]:
    """(inputs were numpy, tensors in a common dtype; numpy becomes float64)."""
    is_numpy = not isinstance(arrays[0], Tensor)
    tensors = [torch.as_tensor(np.asarray(a, dtype=np.float64)) if is_numpy else a for a in arrays]
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return is_numpy, [t.to(dtype) for t in tensors]


def _to_numpy(value: Tensor):
    array = value.detach().cpu().numpy()
    return float(array) if array.ndim == 0 else array


def _project_to_rotation(matrix: Tensor) -> Tensor:
    """The rotation closest (Frobenius) to ``[..., 3, 3]`` ``matrix`` (maximises tr(R^T matrix))."""
    u, _, vh = torch.linalg.svd(matrix)
    sign = torch.sign(torch.linalg.det(u @ vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    fix = torch.ones(matrix.shape[:-2] + (3,), dtype=matrix.dtype, device=matrix.device)
    fix[..., 2] = sign
    return (u * fix[..., None, :]) @ vh


def _weighted_mean(x: Tensor, weights: Tensor | None) -> Tensor:
    """Mean of ``[..., N, 3]`` points over N, weighted by ``[..., N]`` (summing to 1) when given."""
    return x.mean(-2) if weights is None else (weights[..., None] * x).sum(-2)


def _scale_translation(
    src: Tensor, dst: Tensor, rotation: Tensor, with_scale: bool, weights: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """(Weighted) least-squares ``s, t`` for ``dst ~ s R src + t`` given ``R``; ``[..., N, 3]`` point sets."""
    src_mean, dst_mean = _weighted_mean(src, weights), _weighted_mean(dst, weights)
    src_rot = (src - src_mean[..., None, :]) @ rotation.transpose(-1, -2)  # [..., N, 3] = R (src - mean)
    if with_scale:
        w = 1.0 if weights is None else weights[..., None]
        spread = (w * src_rot * src_rot).sum((-1, -2))
        fit = (w * src_rot * (dst - dst_mean[..., None, :])).sum((-1, -2))
        scale = torch.where(spread > 0, fit / spread.clamp_min(torch.finfo(spread.dtype).tiny), 1.0)
    else:
        scale = torch.ones(src.shape[:-2], dtype=src.dtype, device=src.device)
    translation = dst_mean - scale[..., None] * (rotation @ src_mean[..., None])[..., 0]
    return scale, translation


def umeyama_alignment(src, dst, with_scale: bool = True, weights=None):
    """Least-squares similarity between corresponding point sets (Umeyama, 1991).

    Args:
        src: ``[..., N, 3]`` source points, ``N >= 3``, not all equal.
        dst: ``[..., N, 3]`` destination points.
        with_scale: estimate ``s``; when False ``s = 1`` (rigid alignment).
        weights: optional ``[..., N]`` non-negative weights (the weighted least-squares similarity,
            minimising ``sum_i w_i |dst_i - s R src_i - t|^2``); at least 3 points must have weight > 0.

    Returns:
        ``(s, R, t)`` with ``s`` ``[...]``, ``R`` ``[..., 3, 3]``, ``t`` ``[..., 3]`` such that
        ``dst ~ s R src + t``; numpy in gives numpy out (``s`` a float when unbatched).
    """
    if tuple(src.shape) != tuple(dst.shape) or src.shape[-1] != 3 or len(src.shape) < 2:
        raise ValueError(f"expected matching [..., N, 3] point sets, got {tuple(src.shape)} and {tuple(dst.shape)}")
    if src.shape[-2] < 3:
        raise ValueError(f"umeyama_alignment needs at least 3 point pairs, got {src.shape[-2]}")
    if weights is not None and tuple(weights.shape) != tuple(src.shape[:-1]):
        raise ValueError(f"weights must have shape {tuple(src.shape[:-1])}, got {tuple(weights.shape)}")
    is_numpy, tensors = _to_torch(src, dst) if weights is None else _to_torch(src, dst, weights)
    src_t, dst_t = tensors[:2]
    w = None
    if weights is not None:
        w = tensors[2]
        if bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
            raise ValueError("umeyama_alignment: weights must be finite and non-negative")
        if bool(((w > 0).sum(-1) < 3).any()):
            raise ValueError("umeyama_alignment needs at least 3 points with positive weight")
        w = w / w.sum(-1, keepdim=True)
    src_c = src_t - _weighted_mean(src_t, w)[..., None, :]
    dst_c = dst_t - _weighted_mean(dst_t, w)[..., None, :]
    if bool((src_c.abs().amax((-1, -2)) == 0).any()):
        raise ValueError("umeyama_alignment: all source points coincide, the similarity is undefined")
    if w is None:
        covariance = dst_c.transpose(-1, -2) @ src_c / src_t.shape[-2]  # [..., 3, 3]
    else:
        covariance = dst_c.transpose(-1, -2) @ (w[..., None] * src_c)  # [..., 3, 3]
    rotation = _project_to_rotation(covariance)
    scale, translation = _scale_translation(src_t, dst_t, rotation, with_scale, w)
    if is_numpy:
        return _to_numpy(scale), _to_numpy(rotation), _to_numpy(translation)
    return scale, rotation, translation


def _centres_well_spread(centres: Tensor, rel_tol: float = 1e-6) -> bool:
    """True when ``[S, 3]`` centres are at least 3 and not (nearly) collinear."""
    if centres.shape[0] < 3:
        return False
    singular = torch.linalg.svdvals(centres - centres.mean(0))
    return bool(singular[1] > rel_tol * singular[0])


def align_cameras_sim3(pred_extrinsics, ref_extrinsics, with_scale: bool = True, rotation_from: str = "auto"):
    """Align a predicted camera trajectory to a reference one with a similarity.

    The similarity maps the predicted world frame onto the reference world frame. Its rotation
    comes from the camera centres (Umeyama) or, with ``rotation_from="orientations"``, from the
    camera orientations (the rotation ``R`` maximising ``sum_i tr(R_ref_i^T R_pred_i R^T)``).
    ``"auto"`` uses centres when there are at least 3 cameras that are not collinear, and
    orientations otherwise. Scale and translation always fit the centres in least squares.

    Args:
        pred_extrinsics: ``[S, 3, 4]`` (or ``[S, 4, 4]``) predicted world-to-camera.
        ref_extrinsics: ``[S, 3, 4]`` (or ``[S, 4, 4]``) reference world-to-camera.
        with_scale: estimate the scale (Sim(3)); False gives an SE(3) alignment.
        rotation_from: ``"auto"``, ``"centers"`` or ``"orientations"``.

    Returns:
        ``(aligned_extrinsics [S, 3, 4], sim3)``: the predictions expressed in the reference
        frame and the :class:`Sim3` used (so points predicted in the same frame can follow with
        ``sim3.transform_points``). Numpy in gives numpy out.
    """
    if rotation_from not in ("auto", "centers", "orientations"):
        raise ValueError(f"rotation_from must be 'auto', 'centers' or 'orientations', got {rotation_from!r}")
    if pred_extrinsics.shape[0] != ref_extrinsics.shape[0] or len(pred_extrinsics.shape) != 3:
        raise ValueError(
            f"expected [S, 3, 4] extrinsics with equal S, got {tuple(pred_extrinsics.shape)} and "
            f"{tuple(ref_extrinsics.shape)}"
        )
    is_numpy, (pred, ref) = _to_torch(pred_extrinsics, ref_extrinsics)
    pred_centres, ref_centres = camera_centers(pred), camera_centers(ref)  # [S, 3]
    use_centres = rotation_from == "centers" or (rotation_from == "auto" and _centres_well_spread(ref_centres))
    if use_centres:
        scale, rotation, translation = umeyama_alignment(pred_centres, ref_centres, with_scale=with_scale)
    else:
        relative = ref[:, :3, :3].transpose(-1, -2) @ pred[:, :3, :3]  # [S, 3, 3] = R_ref^T R_pred
        rotation = _project_to_rotation(relative.sum(0))
        scale, translation = _scale_translation(pred_centres, ref_centres, rotation, with_scale)
    sim3 = Sim3(scale, rotation, translation)
    aligned = sim3.transform_extrinsics(pred[:, :3])
    if is_numpy:
        sim3 = Sim3(_to_numpy(scale), _to_numpy(rotation), _to_numpy(translation))
        return _to_numpy(aligned), sim3
    return aligned, sim3
