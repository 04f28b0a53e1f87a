"""Bundle adjustment of VGGT's cameras with its own tracks (the paper's "with BA" setting).

Steps: triangulate every track from the predicted cameras (linear DLT over its visible
observations); then ``rounds`` times: drop observations whose reprojection error is above the
round's threshold and tracks that end up too short or too flat (triangulation angle), and refine
cameras and points with pycolmap's bundle adjuster (robust Cauchy loss). The thresholds shrink
geometrically from about three times the median initial error (predicted cameras are a few
degrees off) to ``max_reproj_error``; a last filter keeps only observations within it.

Everything here is in ORIGINAL image pixels in COLMAP's convention (origin at the image's top-left
corner). Cameras are OpenCV, extrinsics world-to-camera. Legend: S frames, N tracks, T observations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

import openvggt.pipeline.pycolmap_compat as pc
from openvggt.geometry import camera_centers, project_world_points_to_cam

log = logging.getLogger(__name__)

__all__ = ["BAOptions", "BAResult", "bundle_adjust_tracks", "project", "triangulate_tracks"]


@dataclass(frozen=True)
class BAOptions:
    query_frames: int = 4  # frames whose corners are tracked (evenly spaced, frame 0 included)
    points_per_frame: int = 512  # corners per query frame
    vis_threshold: float = 0.2  # track-head visibility needed for an observation
    conf_threshold: float = 0.2  # track-head confidence needed for an observation
    min_track_length: int = 3  # observations per point (2 when there are only 2 frames)
    max_reproj_error: float = 4.0  # final inlier threshold, MODEL-input pixels (scaled per image to original ones)
    max_initial_error: float = 48.0  # largest first-round threshold (model pixels), see _thresholds
    min_tri_angle: float = 1.0  # degrees; flatter points are dropped
    min_frame_observations: int = 16  # frames seen by fewer kept observations keep their predicted pose
    min_points: int = 50  # fewer triangulated tracks than this: no adjustment (too weak to trust)
    loss_scale: float = 1.0  # Cauchy loss scale, in model-input pixels
    refine_focal_length: bool = True
    rounds: int = 3  # filter + refine rounds, thresholds tightening to max_reproj_error
    max_iterations: int = 100


@dataclass
class BAResult:
    """Refined cameras and the points that support them."""

    extrinsics: np.ndarray  # [S, 3, 4] world-to-camera
    intrinsics: np.ndarray  # [S, 3, 3] original pixels
    points: np.ndarray  # [P, 3]
    colors: np.ndarray  # [P, 3] uint8
    obs_point: np.ndarray  # [T] index into points
    obs_frame: np.ndarray  # [T] frame index
    obs_xy: np.ndarray  # [T, 2] observed pixel (original, corner origin)
    error_before: float  # mean reprojection error (original pixels) with the predicted cameras
    error_after: float  # the same after refinement
    stats: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "points": int(len(self.points)),
            "observations": int(len(self.obs_point)),
            "reprojection_error_before_px": self.error_before,
            "reprojection_error_after_px": self.error_after,
            **self.stats,
        }


def _track_length(opts: BAOptions, frames: int) -> int:
    """The frames a track needs: ``opts.min_track_length``, at most the frame count, at least 2."""
    return max(min(opts.min_track_length, frames), 2)


# ---------------------------------------------------------------------------------------------- geometry
def project(points: np.ndarray, extrinsics: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[S, N, 2]`` and depths ``[S, N]`` of ``points [N, 3]`` in cameras ``[S, 3, 4]`` / ``[S, 3, 3]``."""
    px, cam = project_world_points_to_cam(
        torch.from_numpy(np.asarray(points, np.float64)),
        torch.from_numpy(np.asarray(extrinsics, np.float64)),
        torch.from_numpy(np.asarray(intrinsics, np.float64)),
        default=np.inf,  # a point at a camera centre projects nowhere
    )
    return px.numpy(), cam[:, 2].numpy()


def triangulate_tracks(
    extrinsics: np.ndarray, intrinsics: np.ndarray, xy: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Linear (DLT) triangulation of every track from its masked observations.

    Args:
        extrinsics: ``[S, 3, 4]``; intrinsics: ``[S, 3, 3]``; xy: ``[S, N, 2]`` pixels; mask: ``[S, N]``.
    Returns:
        points ``[N, 3]`` and ``ok [N]`` (at least two observations and a finite solution).
    """
    k_inv = np.linalg.inv(intrinsics)  # [S, 3, 3]
    hom = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)  # [S, N, 3]
    rays = np.einsum("sij,snj->sni", k_inv, hom)  # normalised coordinates, z = 1
    p = extrinsics  # [S, 3, 4] projection matrices in normalised coordinates
    rows_x = rays[..., 0:1] * p[:, None, 2] - p[:, None, 0]  # [S, N, 4]
    rows_y = rays[..., 1:2] * p[:, None, 2] - p[:, None, 1]
    weight = mask[..., None].astype(np.float64)
    a = np.concatenate([rows_x * weight, rows_y * weight], axis=0).transpose(1, 0, 2)  # [N, 2S, 4]
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    _, _, vt = np.linalg.svd(a)
    x = vt[:, -1]  # [N, 4]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = x[:, :3] / x[:, 3:]
    ok = (mask.sum(0) >= 2) & np.isfinite(points).all(-1) & (np.abs(x[:, 3]) > 1e-12)
    return np.where(ok[:, None], points, 0.0), ok


def _max_angle_deg(points: np.ndarray, centres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[N]`` spread of the viewing rays of each point over its masked observations, in degrees.

    Twice the largest angle to the mean ray: within a factor of two of the largest pairwise angle,
    and cheap. Points without observations get 0.
    """
    rays = points[None] - centres[:, None]  # [S, N, 3]
    rays = rays / np.maximum(np.linalg.norm(rays, axis=-1, keepdims=True), 1e-12)
    mean = (rays * mask[..., None]).sum(0)  # [N, 3]
    mean = mean / np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)
    cos = np.clip(np.einsum("snk,nk->sn", rays, mean), -1.0, 1.0)
    return 2 * np.degrees(np.where(mask, np.arccos(cos), 0.0).max(0))


def _filter(
    points: np.ndarray,
    ok: np.ndarray,
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    xy: np.ndarray,
    mask: np.ndarray,
    max_err: np.ndarray,
    opts: BAOptions,
) -> tuple[np.ndarray, np.ndarray]:
    """(observation mask ``[S, N]`` of inliers in front of the camera, track keep ``[N]``)."""
    px, z = project(points, extrinsics, intrinsics)
    err = np.linalg.norm(px - xy, axis=-1)
    inlier = mask & ok[None] & (z > 0) & (err <= max_err[:, None])
    keep = inlier.sum(0) >= _track_length(opts, len(extrinsics))
    if keep.any():
        centres = camera_centers(extrinsics)
        keep &= _max_angle_deg(points, centres, inlier & keep[None]) >= opts.min_tri_angle
    return inlier & keep[None], keep


def _thresholds(points, ok, extrinsics, intrinsics, xy, mask, scale, opts) -> np.ndarray:  # noqa: ANN001
    """Inlier thresholds (model pixels) per round: from ~3x the median initial error down to ``max_reproj_error``.

    Predicted cameras are a few degrees off, i.e. tens of pixels: a tight threshold before any
    refinement would reject every track, so the first rounds tolerate the initial error and each
    round tightens (geometrically) until the last one uses ``max_reproj_error``.
    """
    px, z = project(points, extrinsics, intrinsics)
    usable = mask & ok[None] & (z > 0)
    err = (np.linalg.norm(px - xy, axis=-1) / scale[:, None])[usable]
    tight = opts.max_reproj_error
    start = tight if err.size == 0 else float(np.clip(3 * np.median(err), tight, opts.max_initial_error))
    return np.geomspace(start, tight, max(opts.rounds, 1))


def _anchor_first_camera(first: np.ndarray, extrinsics: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move the refined scene rigidly so that camera 0 has its predicted pose ``first [3, 4]`` again.

    The adjuster's gauge may let every camera move; VGGT's world frame is camera 0's.
    """
    old = np.eye(4)
    old[:3] = extrinsics[0]
    new = np.eye(4)
    new[:3] = first
    world_change = np.linalg.inv(new) @ old  # refined world -> anchored world (rigid)
    homogeneous = np.concatenate([extrinsics, np.broadcast_to([[[0, 0, 0, 1.0]]], (len(extrinsics), 1, 4))], 1)
    anchored = (homogeneous @ np.linalg.inv(world_change))[:, :3]
    moved = points @ world_change[:3, :3].T + world_change[:3, 3]
    return anchored, moved


def _mean_error(points, extrinsics, intrinsics, xy, obs_mask) -> float:  # noqa: ANN001
    px, _ = project(points, extrinsics, intrinsics)
    err = np.linalg.norm(px - xy, axis=-1)[obs_mask]
    return float(err.mean()) if err.size else float("nan")


# ---------------------------------------------------------------------------------------------- main
def bundle_adjust_tracks(
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    sizes: list[tuple[int, int]],
    xy: np.ndarray,
    mask: np.ndarray,
    colors: np.ndarray,
    pixel_scale: np.ndarray,
    options: BAOptions | None = None,
    shared_camera: bool = False,
    camera_model: str = "PINHOLE",
) -> BAResult:
    """Triangulate, filter and bundle-adjust.

    Args:
        extrinsics: ``[S, 3, 4]`` predicted world-to-camera; intrinsics: ``[S, 3, 3]`` original pixels.
        sizes: ``(width, height)`` of each original image.
        xy: ``[S, N, 2]`` tracked pixels (original, corner origin); mask: ``[S, N]`` usable observations.
        colors: ``[N, 3]`` uint8 colour of each track.
        pixel_scale: ``[S]`` original pixels per model-input pixel (turns the thresholds into pixels).
        shared_camera: one camera for all frames (intrinsics refined jointly).
        camera_model: ``"PINHOLE"`` or ``"SIMPLE_PINHOLE"``.

    Raises:
        RuntimeError: no track survives the filtering (the cameras are then left as they are by the caller).
    """
    opts = options or BAOptions()
    extrinsics, intrinsics = extrinsics.astype(np.float64), intrinsics.astype(np.float64)
    if shared_camera:
        intrinsics = np.broadcast_to(intrinsics.mean(0), intrinsics.shape).copy()
    if camera_model == "SIMPLE_PINHOLE":
        f = (intrinsics[:, 0, 0] + intrinsics[:, 1, 1]) / 2
        intrinsics[:, 0, 0] = intrinsics[:, 1, 1] = f
    scale = np.asarray(pixel_scale, dtype=np.float64)
    px_scale = float(np.median(scale))
    initial = (extrinsics, intrinsics)
    points, ok = triangulate_tracks(extrinsics, intrinsics, xy, mask)
    schedule = _thresholds(points, ok, extrinsics, intrinsics, xy, mask, scale, opts)
    # the track length and focal-length choice used (run.json's options are the ones asked for; the matches path
    # changes both, reconstruct.adjust_matches)
    stats: dict = {
        "tracks": int(xy.shape[1]),
        "thresholds_model_px": [round(float(t), 2) for t in schedule],
        "min_track_length": _track_length(opts, len(extrinsics)),
        "focal_length_refined": bool(opts.refine_focal_length),
    }
    obs, keep, reports = mask, ok, []
    for round_index, threshold in enumerate(schedule):
        obs, keep = _filter(points, keep, extrinsics, intrinsics, xy, obs, threshold * scale, opts)
        if round_index == 0 and keep.any():  # re-triangulate from the inliers only
            points, ok = triangulate_tracks(extrinsics, intrinsics, xy, obs)
            obs, keep = _filter(points, ok & keep, extrinsics, intrinsics, xy, obs, threshold * scale, opts)
            stats["tracks_triangulated"] = int(keep.sum())
        if not keep.any():
            if round_index == 0:
                raise RuntimeError(f"no track could be triangulated within {threshold:.1f} px ({stats})")
            break
        if round_index == 0 and keep.sum() < opts.min_points:
            raise RuntimeError(f"only {int(keep.sum())} tracks could be triangulated (< {opts.min_points}; {stats})")
        sel = np.nonzero(keep)[0]
        loss = opts.loss_scale * threshold / opts.max_reproj_error * px_scale  # looser while thresholds are
        extrinsics, intrinsics, new_p, report = _pycolmap_ba(
            extrinsics, intrinsics, sizes, points[sel], xy[:, sel], obs[:, sel], opts, shared_camera, camera_model, loss
        )
        extrinsics, new_p = _anchor_first_camera(initial[0][0], extrinsics, new_p)
        points = points.copy()
        points[sel] = new_p
        reports.append(report | {"threshold_model_px": round(float(threshold), 2), "points": int(len(sel))})
    obs, keep = _filter(points, keep, extrinsics, intrinsics, xy, obs, opts.max_reproj_error * scale, opts)
    if keep.sum() < opts.min_points:
        raise RuntimeError(f"only {int(keep.sum())} tracks are consistent with the refined cameras ({stats})")
    obs = obs & keep[None]
    error_after = _mean_error(points, extrinsics, intrinsics, xy, obs)
    # the same observations, triangulated from the predicted cameras: the error BA started from
    before_points, before_ok = triangulate_tracks(*initial, xy, obs)
    error_before = _mean_error(before_points, *initial, xy, obs & before_ok[None])
    stats |= {"rounds": reports}
    sel = np.nonzero(keep)[0]
    frame_idx, track_idx = np.nonzero(obs[:, sel])
    log.info(
        "bundle adjustment: %d points, %d observations, reprojection error %.3f -> %.3f px",
        len(sel), len(frame_idx), error_before, error_after,
    )  # fmt: skip
    return BAResult(
        extrinsics=extrinsics,
        intrinsics=intrinsics,
        points=points[sel],
        colors=colors[sel],
        obs_point=track_idx,
        obs_frame=frame_idx,
        obs_xy=xy[frame_idx, sel[track_idx]],
        error_before=error_before,
        error_after=error_after,
        stats=stats,
    )


def _pycolmap_ba(extrinsics, intrinsics, sizes, points, xy, obs, opts, shared, model, loss_scale):  # noqa: ANN001
    """One pycolmap bundle adjustment (Cauchy loss of ``loss_scale`` original pixels); returns refined
    (extrinsics, intrinsics, points, report)."""

    rec, image_ids, point_ids = pc.build_reconstruction(extrinsics, intrinsics, sizes, points, xy, obs, shared, model)
    weak = [image_ids[i] for i in np.nonzero(obs.sum(1) < opts.min_frame_observations)[0]]
    report = pc.run_bundle_adjustment(
        rec, image_ids, loss_scale, opts.refine_focal_length, opts.max_iterations, tuple(weak)
    )
    report["frames_held"] = [i - 1 for i in weak]
    new_e, new_k = pc.read_cameras(rec, image_ids)
    new_p = np.stack([rec.points3D[pid].xyz for pid in point_ids]) if len(point_ids) else points
    return new_e, new_k, new_p, report
