"""Scoring reconstructed cameras against reference cameras (``cameras.json`` of ``../shared/scenes``).

``cameras.json``: ``frames[i] = {file, width, height, K, R, t}``, OpenCV, ``x_cam = R x_world + t``,
K in pixels of that image. Frames are matched by file name; reference frames that were not
reconstructed count as unregistered (failures at every threshold).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openvggt.data.readers import read_cameras_json
from openvggt.data.scene import SceneError
from openvggt.errors import InputError
from openvggt.metrics import camera_metrics


def load_reference(path: str | os.PathLike) -> list[dict]:
    """Frames ``{file, width, height, K, R, t}`` of a scene folder or its ``cameras.json``.

    Read with :func:`openvggt.data.readers.read_cameras_json` (which also checks the images it names).
    """

    path = Path(path)
    root = path if path.is_dir() else path.parent
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_file() and path.name != "cameras.json":
        raise InputError(f"{path}: expected a scene's cameras.json (or its folder)")
    try:
        scene = read_cameras_json(root)
    except SceneError as exc:
        raise InputError(str(exc)) from None
    return [
        {"file": image.name, "width": int(w), "height": int(h), "K": k, "R": r, "t": t}
        for image, (h, w), k, r, t in zip(scene.images, scene.sizes, scene.K, scene.R, scene.t)
    ]


def check_reference(cameras_json: str | os.PathLike, names: Sequence[str]) -> None:
    """Raise :class:`InputError` unless ``cameras_json`` is readable and shares frames with ``names``."""
    ours = {Path(n).name for n in names}
    if not any(Path(f["file"]).name in ours for f in load_reference(cameras_json)):
        raise InputError(f"{cameras_json}: none of its frames are among the input images")


def compare_cameras(
    names: Sequence[str],
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    cameras_json: str | os.PathLike,
) -> dict:
    """VGGT-protocol camera metrics (AUC@30/15/5/3, RRA/RTA) plus the median relative focal-length error.

    Args:
        names: image names of the reconstruction; extrinsics ``[S, 3, 4]`` world-to-camera;
            intrinsics ``[S, 3, 3]`` in pixels of images of ``sizes`` (w, h).
    """

    reference = load_reference(cameras_json)
    ours = {Path(n).name: i for i, n in enumerate(names)}
    pred = np.full((len(reference), 3, 4), np.nan)
    gt = np.zeros((len(reference), 3, 4))
    registered = np.zeros(len(reference), bool)
    focal_err = []
    for r, frame in enumerate(reference):
        gt[r] = np.concatenate([frame["R"], frame["t"][:, None]], axis=1)
        i = ours.get(Path(frame["file"]).name)
        if i is None:
            continue
        pred[r], registered[r] = extrinsics[i], True
        ratio = sizes[i][0] / float(frame["width"])  # our pixels per reference pixel
        ref_f = np.array([frame["K"][0, 0], frame["K"][1, 1]]) * ratio
        focal_err.append(np.abs(intrinsics[i][[0, 1], [0, 1]] / ref_f - 1).mean())
    if not registered.any():
        raise InputError(f"{cameras_json}: none of its frames are among the input images")
    metrics = camera_metrics(pred, gt, registered=registered)
    # the official code's folded translation error, for comparison with published numbers
    metrics["auc30_unsigned"] = camera_metrics(pred, gt, registered=registered, translation="unsigned")["auc30"]
    metrics["focal_rel_err_median"] = float(np.median(focal_err))
    metrics["reference"] = str(cameras_json)
    return metrics
