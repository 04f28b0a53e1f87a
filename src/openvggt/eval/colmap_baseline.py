"""The classical baseline: COLMAP structure-from-motion through pycolmap (``recon`` extra).

Steps, all with COLMAP's default options unless :class:`ColmapOptions` says otherwise:
SIFT feature extraction (one ``SIMPLE_RADIAL`` camera per image size, ``CameraMode.AUTO``),
exhaustive matching with geometric verification, then incremental mapping (or global mapping,
COLMAP's port of GLOMAP, with ``mapper="global"``). The largest reconstruction (most registered
images) is kept; its images are mapped back to the input frames by file name, and frames it does
not contain count as unregistered.

The clock runs from the first extraction call to the end of mapping: reading the images is
part of it, writing the database and the model too, as a user would experience it.

Depth: COLMAP's own output is sparse, so the per-frame depth handed to the evaluation is made by
projecting the 3D points each registered image observes into that image (z-depth, nearest point
wins, 0 elsewhere), on the original pixel grid; the point cloud is the model's 3D points.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openvggt.eval.prediction import Prediction

log = logging.getLogger(__name__)

__all__ = ["ColmapOptions", "run_colmap", "MAPPERS"]

MAPPERS = ("incremental", "global")


@dataclass(frozen=True)
class ColmapOptions:
    """How to run COLMAP.

    ``num_threads=-1`` uses every core; ``seed=None`` keeps COLMAP's default random seed;
    ``max_image_size=-1`` extracts features at full resolution (pycolmap 4.2.1's default).
    """

    mapper: str = "incremental"
    num_threads: int = -1
    seed: int | None = None
    max_image_size: int = -1
    sparse_depth: bool = True

    def __post_init__(self) -> None:
        if self.mapper not in MAPPERS:
            raise ValueError(f"mapper must be one of {MAPPERS}, got {self.mapper!r}")


def _image_root_and_names(paths: Sequence[Path]) -> tuple[Path, list[str]]:
    """The deepest common folder of ``paths`` and each path relative to it (COLMAP image names)."""
    resolved = [Path(p).resolve() for p in paths]
    root = Path(os.path.commonpath([p.parent for p in resolved]))
    names = [p.relative_to(root).as_posix() for p in resolved]
    if len(set(names)) != len(names):
        raise ValueError("the same image file is listed twice")
    return root, names


def _mapper_options(pycolmap, options: ColmapOptions):  # noqa: ANN001, ANN202
    incremental = options.mapper == "incremental"
    opts = pycolmap.IncrementalPipelineOptions() if incremental else pycolmap.GlobalPipelineOptions()
    opts.num_threads = options.num_threads
    if options.seed is not None:
        opts.random_seed = options.seed
    return opts


@contextlib.contextmanager
def _quiet_glog(pycolmap):  # noqa: ANN001, ANN202
    """COLMAP logs every image at INFO through glog; keep warnings only unless we log at DEBUG."""
    previous = pycolmap.logging.minloglevel
    if not log.isEnabledFor(logging.DEBUG):
        pycolmap.logging.minloglevel = max(previous, 1)  # glog: 0 INFO, 1 WARNING, 2 ERROR
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def _run_sfm(pycolmap, root: Path, names: list[str], work_dir: Path, options: ColmapOptions) -> dict:  # noqa: ANN001
    """Extraction, matching and mapping; returns pycolmap's ``{index: Reconstruction}``."""
    database = work_dir / "database.db"
    sparse = work_dir / "sparse"
    database.unlink(missing_ok=True)
    shutil.rmtree(sparse, ignore_errors=True)
    sparse.mkdir(parents=True)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = options.num_threads
    extraction.max_image_size = options.max_image_size
    pycolmap.extract_features(
        database, root, image_names=names, camera_mode=pycolmap.CameraMode.AUTO, extraction_options=extraction
    )
    pycolmap.match_exhaustive(database)
    mapping = pycolmap.incremental_mapping if options.mapper == "incremental" else pycolmap.global_mapping
    return dict(mapping(database, root, sparse, options=_mapper_options(pycolmap, options)))


def _pose_matrix(image) -> np.ndarray:  # noqa: ANN001
    """``[3, 4]`` world-to-camera of a registered pycolmap image."""
    pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
    return np.asarray(pose.matrix(), np.float64)


def _sparse_depth(rec, image, hw: tuple[int, int]) -> np.ndarray:  # noqa: ANN001
    """``[H, W]`` float32 z-depth of the 3D points ``image`` observes, 0 where none projects."""
    ids = [p.point3D_id for p in image.points2D if p.has_point3D()]
    out = np.zeros(hw, np.float32)
    if not ids:
        return out
    xyz = np.array([rec.points3D[i].xyz for i in ids], np.float64)  # [N, 3] world
    rt = _pose_matrix(image)
    cam = xyz @ rt[:, :3].T + rt[:, 3]  # [N, 3] camera frame
    front = cam[:, 2] > 0
    cam = cam[front]
    uv = np.asarray(rec.cameras[image.camera_id].img_from_cam(cam, check_cheirality=False))  # [N, 2] corner origin
    col, row = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < hw[1]) & (row >= 0) & (row < hw[0])
    order = np.argsort(-cam[inside, 2])  # far first, so the nearest point is written last
    out[row[inside][order], col[inside][order]] = cam[inside, 2][order]
    return out


def _largest(reconstructions: dict):  # noqa: ANN202
    if not reconstructions:
        return None
    return max(reconstructions.values(), key=lambda r: r.num_reg_images())


def run_colmap(
    image_paths: Sequence[str | Path],
    work_dir: str | Path,
    options: ColmapOptions = ColmapOptions(),
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> Prediction:
    """Run COLMAP on the images and return cameras for each of them, in the given order.

    Args:
        image_paths: ``S`` image files (names must be unique relative to their common folder).
        work_dir: folder for COLMAP's database and models (created; previous runs are replaced).
        options: see :class:`ColmapOptions`.
        image_sizes: ``S`` (height, width), needed for sparse depth maps when ``options.sparse_depth``.

    Returns:
        :class:`Prediction` with ``[S, 3, 4]`` world-to-camera extrinsics (NaN rows for frames not
        in the largest reconstruction), sparse depth on the original grids and the 3D points.
    """
    import pycolmap  # noqa: PLC0415 (optional dependency)

    paths = [Path(p) for p in image_paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: image file is missing")
    root, names = _image_root_and_names(paths)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with _quiet_glog(pycolmap):
        reconstructions = _run_sfm(pycolmap, root, names, work_dir, options)
    elapsed = time.perf_counter() - start
    rec = _largest(reconstructions)
    by_name = {} if rec is None else {im.name: im for im in rec.images.values() if im.has_pose}
    s = len(paths)
    extrinsics = np.full((s, 3, 4), np.nan)
    registered = np.zeros(s, bool)
    depth: list[np.ndarray | None] = [None] * s
    for k, name in enumerate(names):
        image = by_name.get(name)
        if image is None:
            continue
        extrinsics[k], registered[k] = _pose_matrix(image), True
        if options.sparse_depth and image_sizes is not None:
            depth[k] = _sparse_depth(rec, image, tuple(int(v) for v in image_sizes[k]))
    points = None if rec is None else np.array([p.xyz for p in rec.points3D.values()], np.float64).reshape(-1, 3)
    info = {
        "mapper": options.mapper,
        "pycolmap": pycolmap.__version__,
        "models": len(reconstructions),
        "model_sizes": sorted((r.num_reg_images() for r in reconstructions.values()), reverse=True),
        "points3D": 0 if points is None else len(points),
        "depth": "sparse: the model's 3D points projected into each registered image",
    }
    log.info("COLMAP (%s): %d of %d images registered in %.1f s", options.mapper, int(registered.sum()), s, elapsed)
    has_depth = options.sparse_depth and image_sizes is not None
    return Prediction(
        extrinsics=extrinsics,
        registered=registered,
        time_s=elapsed,
        depth=tuple(depth) if has_depth else None,
        points=points,
        info=info,
    )
