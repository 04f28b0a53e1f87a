"""A thin adapter around pycolmap for bundle adjustment, across its API generations.

pycolmap 3.12+ / 4.x keep poses on *frames* of *rigs* (``add_camera_with_trivial_rig``,
``add_image_with_trivial_frame``, ``image.cam_from_world()``); older 3.x releases keep them on the
image (``image.cam_from_world`` attribute, ``image.registered``). Only this module knows the
difference. Tested with pycolmap 4.2.1 and 3.11.1 (tests/pipeline/test_ba.py).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from openvggt.errors import UserError

log = logging.getLogger(__name__)


def _pycolmap():  # noqa: ANN202
    try:
        import pycolmap
    except ImportError as exc:  # pragma: no cover - a declared extra
        raise UserError("--ba needs pycolmap (pip install 'openvggt[recon]')") from exc
    return pycolmap


def _has_rigs(pycolmap) -> bool:  # noqa: ANN001
    return hasattr(pycolmap.Reconstruction, "add_image_with_trivial_frame")


def build_reconstruction(
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    sizes: list[tuple[int, int]],
    points: np.ndarray,
    xy: np.ndarray,
    obs: np.ndarray,
    shared_camera: bool,
    camera_model: str,
):  # noqa: ANN201 - pycolmap.Reconstruction
    """A pycolmap model of ``S`` posed images and ``P`` points seen where ``obs [S, P]``; ``xy [S, P, 2]``.

    Returns ``(reconstruction, image ids [S], point ids [P])``.
    """
    pycolmap = _pycolmap()
    rigs = _has_rigs(pycolmap)
    rec = pycolmap.Reconstruction()
    s = extrinsics.shape[0]
    camera_ids = [1] * s if shared_camera else list(range(1, s + 1))
    for cid in sorted(set(camera_ids)):
        k, (w, h) = intrinsics[cid - 1], sizes[cid - 1]
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
        params = [fx, fy, cx, cy] if camera_model == "PINHOLE" else [(fx + fy) / 2, cx, cy]
        cam = pycolmap.Camera(camera_id=cid, model=camera_model, width=int(w), height=int(h), params=params)
        (rec.add_camera_with_trivial_rig if rigs else rec.add_camera)(cam)
    image_ids = list(range(1, s + 1))
    for i in range(s):
        keypoints = xy[i, np.nonzero(obs[i])[0]].astype(np.float64)
        image = _new_image(pycolmap, f"{i:06d}", keypoints, camera_ids[i], image_ids[i])
        pose = pycolmap.Rigid3d(np.asarray(extrinsics[i], dtype=np.float64))
        if rigs:
            rec.add_image_with_trivial_frame(image, pose)
        else:  # pycolmap < 3.12: poses live on images
            image.cam_from_world = pose
            rec.add_image(image)
            rec.register_image(image_ids[i])
    slot = np.cumsum(obs, axis=1) - 1  # [S, P] index of each observation among the image's keypoints
    point_ids = []
    for p in range(points.shape[0]):
        track = pycolmap.Track()
        for i in np.nonzero(obs[:, p])[0]:
            track.add_element(int(image_ids[i]), int(slot[i, p]))
        point_ids.append(rec.add_point3D(points[p].astype(np.float64), track, np.zeros(3, np.uint8)))
    return rec, image_ids, point_ids


def _new_image(pycolmap, name: str, keypoints: np.ndarray, camera_id: int, image_id: int):  # noqa: ANN001, ANN202
    try:
        return pycolmap.Image(name=name, keypoints=keypoints, camera_id=camera_id, image_id=image_id)
    except (TypeError, AttributeError):  # pycolmap 3.11 names the id "id"
        return pycolmap.Image(name=name, keypoints=keypoints, camera_id=camera_id, id=image_id)


def _fix_gauge(pycolmap, config, image_ids: list[int]) -> None:  # noqa: ANN001
    """Keep the first camera's pose and the scale (pycolmap 4: TWO_CAMS_FROM_WORLD; 3.x: by hand)."""
    if hasattr(pycolmap, "BundleAdjustmentGauge"):
        config.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
        return
    config.set_constant_cam_pose(image_ids[0])
    if len(image_ids) > 1:
        config.set_constant_cam_positions(image_ids[1], [0])


def _options(pycolmap, loss_scale: float, refine_focal: bool, max_iterations: int):  # noqa: ANN001, ANN202
    opts = pycolmap.BundleAdjustmentOptions()
    opts.refine_focal_length = refine_focal
    opts.refine_principal_point = False
    opts.refine_extra_params = False
    opts.print_summary = False
    solver_home = opts.ceres if hasattr(opts, "ceres") else opts
    solver_home.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    solver_home.loss_function_scale = float(loss_scale)
    solver_home.solver_options.max_num_iterations = int(max_iterations)
    return opts


def run_bundle_adjustment(
    rec,  # noqa: ANN001
    image_ids: list[int],
    loss_scale: float,
    refine_focal: bool,
    max_iterations: int,
    constant_image_ids: tuple[int, ...] = (),
) -> dict:
    """Refine poses, points and (optionally) focal lengths in place; gauge: the first two cameras.

    ``constant_image_ids``: images whose pose is kept (too few observations to be refined safely).
    """
    pycolmap = _pycolmap()
    opts = _options(pycolmap, loss_scale, refine_focal, max_iterations)
    start = time.perf_counter()
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in image_ids:
        config.add_image(image_id)
    _fix_gauge(pycolmap, config, image_ids)
    for image_id in constant_image_ids:
        if hasattr(config, "set_constant_rig_from_world_pose"):
            config.set_constant_rig_from_world_pose(rec.images[image_id].frame_id)
        else:  # pycolmap < 3.12
            config.set_constant_cam_pose(image_id)
    summary = pycolmap.create_default_bundle_adjuster(opts, config, rec).solve()
    usable = getattr(summary, "is_solution_usable", None) or getattr(summary, "IsSolutionUsable", None)
    report = {"termination": str(summary.termination_type).rsplit(".", 1)[-1]}
    if usable is not None:
        report["usable"] = bool(usable())
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def read_cameras(rec, image_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """``extrinsics [S, 3, 4]`` and ``intrinsics [S, 3, 3]`` of the given images."""
    extrinsics, intrinsics = [], []
    for image_id in image_ids:
        image = rec.images[image_id]
        pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        extrinsics.append(np.asarray(pose.matrix(), dtype=np.float64))
        intrinsics.append(np.asarray(rec.cameras[image.camera_id].calibration_matrix(), dtype=np.float64))
    return np.stack(extrinsics), np.stack(intrinsics)
