"""Re-running pipeline steps on a finished ``reconstruct`` folder, without running the model again.

``openvggt export OUT`` re-assembles the outputs (points, COLMAP model, PLY/GLB, depth, transforms.json,
report) from ``OUT/predictions.npz`` with new filtering options (``--conf-threshold``, ``--max-points``,
``--use-point-map``, ``--camera-model`` ...). ``openvggt ba OUT`` re-runs the bundle adjustment with new
options on the tracks saved by an earlier ``--ba`` run; a folder without tracks needs ``--weights`` with a
track head, and then only the aggregator and the track head run (the camera and depth predictions are the
saved ones). Both write a complete output folder, atomically, to ``--out`` (default: ``OUT`` itself, which
then needs ``--overwrite``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from openvggt.errors import InputError
from openvggt.io.images import ImageMeta
from openvggt.pipeline.ba import BAOptions
from openvggt.pipeline.camera_solve import SolveOptions
from openvggt.pipeline.frame import InputFrame
from openvggt.pipeline.inference import load_predictor
from openvggt.pipeline.inputs import load_frames
from openvggt.pipeline.reconstruct import (
    RawPredictions,
    Reconstruction,
    ReconstructOptions,
    assemble,
    track_for_ba,
)
from openvggt.pipeline.timing import StageTimer
from openvggt.pipeline.tracking import Tracks
from openvggt.predictor import Predictor

log = logging.getLogger(__name__)

__all__ = ["SavedRun", "export", "load_run", "rebundle"]


@dataclass
class SavedRun:
    """What a ``reconstruct`` folder holds, in the form the pipeline steps take."""

    folder: Path
    frames: list[InputFrame]
    metas: list[ImageMeta]
    images_u8: np.ndarray  # [S, H, W, 3] model input
    valid: np.ndarray  # [S, H, W]
    raw: RawPredictions
    tracks: Tracks | None
    options: ReconstructOptions
    weights: str


def _options(saved: dict) -> ReconstructOptions:
    known = {f.name for f in fields(ReconstructOptions)}
    values = {k: v for k, v in saved.items() if k in known}
    if isinstance(values.get("ba_options"), dict):
        ba_known = {f.name for f in fields(BAOptions)}
        values["ba_options"] = BAOptions(**{k: v for k, v in values["ba_options"].items() if k in ba_known})
    if isinstance(values.get("solve_options"), dict):
        solve_known = {f.name for f in fields(SolveOptions)}
        values["solve_options"] = SolveOptions(**{k: v for k, v in values["solve_options"].items() if k in solve_known})
    return ReconstructOptions(**values)


def load_run(folder: str | os.PathLike) -> SavedRun:
    """Read ``predictions.npz`` and ``run.json`` of a ``reconstruct`` output folder."""
    folder = Path(folder)
    npz_path, run_path = folder / "predictions.npz", folder / "run.json"
    for path in (npz_path, run_path):
        if not path.is_file():
            raise InputError(f"{folder} is not a reconstruct output folder: {path.name} is missing")
    summary = json.loads(run_path.read_text())
    images = summary.get("images") or []
    if not images or any("meta" not in item for item in images):
        raise InputError(f"{run_path} was written by an older openvggt (no image metas); re-run reconstruct")
    metas = [
        ImageMeta(**{k: tuple(v) if isinstance(v, list) else v for k, v in item["meta"].items()}) for item in images
    ]
    frames = []
    for item in images:
        copied = folder / "images" / item["name"]
        path = copied if copied.is_file() else Path(item["source"])
        if not path.is_file():
            raise InputError(f"image {item['name']} is neither in {folder / 'images'} nor at {item['source']}")
        frames.append(InputFrame(name=item["name"], source=str(path), path=path))
    with np.load(npz_path) as data:
        arrays = {k: data[k] for k in data.files}
    raw = RawPredictions(
        pose_enc=arrays["pose_enc"],
        depth=arrays["depth"][..., 0],  # [S, H, W, 1] -> [S, H, W]
        depth_conf=arrays["depth_conf"],
        world_points=arrays.get("world_points"),
        world_points_conf=arrays.get("world_points_conf"),
    )
    tracks = None
    if "track" in arrays:
        xy, query_frame = arrays["track"], arrays["track_query_frame"].astype(int)
        query_xy = xy[query_frame, np.arange(len(query_frame))]  # the query frame holds the query itself
        tracks = Tracks(xy, arrays["vis"], arrays["conf"], query_frame, query_xy.astype(np.float32))
    return SavedRun(
        folder=folder,
        frames=frames,
        metas=metas,
        images_u8=arrays["images"],
        valid=arrays["valid_mask"].astype(bool),
        raw=raw,
        tracks=tracks,
        options=_options(summary.get("options", {})),
        weights=str(summary.get("weights", "")),
    )


def _finish(run: SavedRun, options: ReconstructOptions, tracks: Tracks | None, timer: StageTimer) -> Reconstruction:
    if options.ba and options.cameras != "matches" and tracks is None and len(run.frames) > 1:
        raise InputError(f"{run.folder} has no saved tracks; run `openvggt ba` with --weights to compute them")
    rec = assemble(run.frames, run.metas, run.images_u8, run.valid, run.raw, options, tracks=tracks, timer=timer)
    rec.weights = run.weights
    return rec


def _run(folder: SavedRun | str | os.PathLike) -> SavedRun:
    return folder if isinstance(folder, SavedRun) else load_run(folder)


def export(folder: SavedRun | str | os.PathLike, **overrides) -> Reconstruction:
    """The reconstruction of ``folder`` re-assembled with ``overrides`` of its options (no model).

    A run made with ``--ba`` re-runs the (deterministic) bundle adjustment on its saved tracks, so its cameras
    and sparse model are reproduced; pass ``ba=False`` to export the predicted cameras instead.
    """
    run = _run(folder)
    options = replace(run.options, **overrides)
    options.check()
    timer = StageTimer()
    return _finish(run, options, run.tracks if options.ba else None, timer)


def rebundle(
    folder: SavedRun | str | os.PathLike,
    ba_options: BAOptions | None = None,
    weights: str | os.PathLike | None = None,
    predictor: Predictor | None = None,
    device: str = "auto",
    dtype: str = "auto",
    **overrides,
) -> Reconstruction:
    """Bundle adjustment of ``folder``'s predicted cameras with new ``ba_options`` (and option ``overrides``).

    The saved tracks are used unless ``weights`` or ``predictor`` is given (or none were saved): then the
    images are loaded again as the original run loaded them and tracked with that model's track head.
    """
    run = _run(folder)
    options = replace(run.options, ba=True, ba_options=ba_options or run.options.ba_options, **overrides)
    options.check()
    timer = StageTimer()
    tracks = run.tracks
    if (weights is not None or predictor is not None or tracks is None) and len(run.frames) > 1:
        if weights is None and predictor is None:
            raise InputError(f"{run.folder} has no saved tracks; pass --weights (a model with a track head)")
        with timer("load model"):
            predictor = load_predictor(
                weights, ("track",), predictor=predictor, device=device, dtype=dtype, mode=options.mode,
                size=run.metas[0].model_size[0] if options.mode == "crop" else max(run.metas[0].model_size),
            )  # fmt: skip
        with timer("load images"):
            images, metas = load_frames(run.frames, options.mode, predictor.size)
        if [m.model_size for m in metas] != [m.model_size for m in run.metas]:
            raise InputError(f"the images of {run.folder} no longer load to the saved model input size")
        with timer("inference"):
            inter = predictor(images, heads=(), keep_intermediates=True).intermediates
        with timer("tracking"), torch.inference_mode():
            tracks = track_for_ba(predictor, inter, run.images_u8, run.valid, options)
    return _finish(run, options, tracks, timer)
