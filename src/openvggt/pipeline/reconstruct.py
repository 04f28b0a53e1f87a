"""``reconstruct``: images or a video in; cameras, depth, a point cloud and a COLMAP model out.

    rec = openvggt.pipeline.reconstruct(["photos/"], weights="facebook/VGGT-1B", ba=True)
    rec.extrinsics, rec.intrinsics, rec.depth, rec.points  # numpy arrays
    rec.save("out/")                                       # the files the CLI writes

The job is a chain of steps, each a function of its own (hloc style) so that a step can be re-run on saved
predictions (``openvggt ba OUT``, ``openvggt export OUT``; see :mod:`openvggt.pipeline.saved`):

1. inputs: :func:`~openvggt.pipeline.inputs.collect_inputs`, :func:`~openvggt.pipeline.inputs.load_frames`;
2. inference: :func:`predict` (one predictor call; tokens kept for the track head when BA follows);
   with ``cameras="matches"`` the cameras are then solved from image matches and the predicted depth
   (:mod:`openvggt.pipeline.camera_solve`) instead of taken from the camera head;
3. tracks: :func:`track_for_ba` (corners in a few query frames, tracked through every frame);
4. bundle adjustment: :func:`adjust` (triangulate, filter, pycolmap BA);
5. outputs: :func:`assemble` (cameras, filtered cloud, COLMAP model) and :meth:`Reconstruction.save`.

Conventions: OpenCV cameras (x right, y down, z forward), extrinsics world-to-camera, world frame
= the first camera (VGGT's), arbitrary scale. ``intrinsics`` are in pixels of the ORIGINAL images
(COLMAP's convention: origin at the top-left corner of the image); ``intrinsics_model`` in pixels
of the model input. Legend: S frames, H x W model input size, P points.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from openvggt.errors import InputError
from openvggt.geometry import pose_encoding_to_extri_intri, unproject_depth
from openvggt.io.colmap import ColmapModel
from openvggt.io.images import ImageMeta
from openvggt.models.pretrained import is_default_weights
from openvggt.models.vggt import Intermediates
from openvggt.pipeline.ba import BAOptions, BAResult, bundle_adjust_tracks
from openvggt.pipeline.camera_solve import SolvedCameras, SolveOptions, solve_cameras
from openvggt.pipeline.colmap_export import build_model
from openvggt.pipeline.evaluate import check_reference, compare_cameras
from openvggt.pipeline.inference import load_predictor
from openvggt.pipeline.inputs import InputFrame, collect_inputs, load_frames, size_for_tracks
from openvggt.pipeline.keypoints import detect_corners
from openvggt.pipeline.outputs import save_reconstruction
from openvggt.pipeline.timing import StageTimer
from openvggt.pipeline.tracking import MIN_TRACK_SIDE, Tracks, feature_maps, track_queries
from openvggt.predictor import Predictor, PredictorOutput

log = logging.getLogger(__name__)

CAMERA_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")
CAMERA_SOURCES = ("auto", "head", "matches")  # see openvggt.pipeline.camera_solve
FOV_RANGE_RAD = (float(np.radians(1.0)), float(np.radians(170.0)))


@dataclass(frozen=True)
class ReconstructOptions:
    mode: str = "crop"  # "crop" or "pad" (see openvggt.io.images.load_images)
    size: int | None = None  # model input side; None: the model's training size
    device: str = "auto"
    dtype: str = "auto"  # "auto", "fp32", "bf16", "fp16" or "int8" (see openvggt.runtime)
    conf_threshold: float = 50.0  # percentile of confidence below which points are dropped
    use_point_map: bool = False  # points from the point head instead of depth + cameras
    # "head": the camera head's; "matches": solved from image matches + the model's depth; "auto": "matches" for
    # the shipped default weights (a camera head near chance, docs/model_card.md), "head" for any other model
    cameras: str = "auto"
    solve_options: SolveOptions = field(default_factory=SolveOptions)
    ba: bool = False
    ba_options: BAOptions = field(default_factory=BAOptions)
    shared_camera: bool = False
    camera_model: str = "PINHOLE"
    max_points: int = 2_000_000  # in points.ply
    colmap_points: int = 100_000  # sparse points written without BA (one observation each)
    fps: float | None = None  # video sampling
    max_frames: int | None = None
    track_iters: int | None = None
    seed: int = 0  # for point subsampling

    def check(self) -> None:
        if self.mode not in ("crop", "pad"):
            raise InputError(f"--mode must be crop or pad, got {self.mode!r}")
        if not 0.0 <= self.conf_threshold < 100.0:
            raise InputError(f"--conf-threshold is a percentile in [0, 100), got {self.conf_threshold}")
        if self.cameras not in CAMERA_SOURCES:
            raise InputError(f"--cameras must be one of {CAMERA_SOURCES}, got {self.cameras!r}")
        if self.camera_model not in CAMERA_MODELS:
            raise InputError(f"--camera-model must be one of {CAMERA_MODELS}, got {self.camera_model!r}")
        if self.size is not None and (self.size < 14 or self.size % 14):
            raise InputError(f"--size must be a positive multiple of 14, got {self.size}")
        focal = self.solve_options.focal
        if focal is not None and not (np.isfinite(focal) and focal > 0):
            raise InputError(f"--focal must be a positive number of pixels, got {focal}")


@dataclass
class Reconstruction:
    """Everything a run produced (numpy arrays; see the module docstring for conventions)."""

    frames: list[InputFrame]
    metas: list[ImageMeta]
    images: np.ndarray  # [S, H, W, 3] uint8 model input
    pose_enc: np.ndarray  # [S, 9] raw camera-head output
    extrinsics: np.ndarray  # [S, 3, 4] final cameras (refined when BA ran)
    intrinsics: np.ndarray  # [S, 3, 3] final, original pixels
    intrinsics_model: np.ndarray  # [S, 3, 3] final, model pixels
    extrinsics_pred: np.ndarray  # [S, 3, 4] before BA: the camera head's, or solved from matches (--cameras)
    intrinsics_pred: np.ndarray  # [S, 3, 3] before BA, original pixels
    depth: np.ndarray  # [S, H, W] z-depth; 0 outside the image footprint
    depth_conf: np.ndarray  # [S, H, W]
    valid: np.ndarray  # [S, H, W] bool, inside the image footprint
    world_points: np.ndarray | None  # [S, H, W, 3] point head, when run
    world_points_conf: np.ndarray | None  # [S, H, W]
    points: np.ndarray  # [P, 3] confidence-filtered cloud
    colors: np.ndarray  # [P, 3] uint8
    points_conf: np.ndarray  # [P]
    colmap: ColmapModel
    ba: BAResult | None = None
    ba_skipped: str | None = None  # why BA did not change the cameras, when asked for
    camera_solve: SolvedCameras | None = None  # with --cameras matches: how each frame's camera was found
    tracks: Tracks | None = None
    options: ReconstructOptions = field(default_factory=ReconstructOptions)
    weights: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    reference: dict | None = None  # camera metrics against reference cameras, when given

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.frames]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of each original image."""
        return [m.original_size for m in self.metas]

    def save(self, out_dir: str | os.PathLike, overwrite: bool = False, copy_images: bool = True) -> Path:
        """Write every output into ``out_dir`` atomically (see :mod:`openvggt.pipeline.outputs`)."""
        return save_reconstruction(self, Path(out_dir), overwrite=overwrite, copy_images=copy_images)

    def compare(self, cameras_json: str | os.PathLike) -> dict:
        """Camera metrics (AUC@30 etc., VGGT protocol) against reference cameras; stored in ``reference``."""
        self.reference = compare_cameras(self.names, self.extrinsics, self.intrinsics, self.sizes, cameras_json)
        return self.reference


# ---------------------------------------------------------------------------------------------- steps
def resolve_cameras(cameras: str, weights: str | os.PathLike | None) -> str:
    """``head`` or ``matches`` for ``--cameras``: ``auto`` is ``matches`` when ``weights`` name the shipped default
    model (its camera head is near chance, docs/model_card.md) and ``head`` for any other weights (``None``: a model
    passed in)."""
    if cameras != "auto":
        return cameras
    return "matches" if weights is not None and is_default_weights(weights) else "head"


def _head_tracks(options: ReconstructOptions) -> bool:
    """Whether BA runs on the track head's tracks (with ``cameras="matches"`` it runs on the solve's matches)."""
    return options.ba and options.cameras != "matches"


def _forward_heads(options: ReconstructOptions) -> tuple[str, ...]:
    """Heads run in the forward pass (the track head runs later, from the kept tokens)."""
    return ("camera", "depth") + (("point",) if options.use_point_map else ())


def predicted_cameras(pose_enc: torch.Tensor, metas: list[ImageMeta], hw: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """(extrinsics [S, 3, 4], intrinsics model [S, 3, 3], intrinsics original [S, 3, 3]) as float64."""
    pose_enc = pose_enc.double().clone()
    fov = pose_enc[:, 7:9]
    bad = ~((fov >= FOV_RANGE_RAD[0]) & (fov <= FOV_RANGE_RAD[1])).all(-1)
    if bad.any():  # e.g. an untrained model: a zero field of view would mean an infinite focal length
        log.warning("%d frame(s) have a degenerate field of view; clamped to [1, 170] degrees", int(bad.sum()))
        pose_enc[:, 7:9] = torch.nan_to_num(fov, nan=FOV_RANGE_RAD[1]).clamp(*FOV_RANGE_RAD)
    extrinsics, k_model = pose_encoding_to_extri_intri(pose_enc, hw)
    k_model = k_model.numpy()
    k_orig = np.stack([m.intrinsics_to_original(k) for m, k in zip(metas, k_model)])
    return extrinsics.numpy(), k_model, k_orig


def _finalise_intrinsics(k_orig: np.ndarray, options: ReconstructOptions) -> np.ndarray:
    """Apply ``--shared-camera`` (mean) and ``SIMPLE_PINHOLE`` (one focal length) to original intrinsics."""
    k = k_orig.copy()
    if options.shared_camera:
        k[:] = k.mean(0)
    if options.camera_model == "SIMPLE_PINHOLE":
        k[:, 0, 0] = k[:, 1, 1] = (k[:, 0, 0] + k[:, 1, 1]) / 2
    return k


def _to_model(k_orig: np.ndarray, metas: list[ImageMeta]) -> np.ndarray:
    return np.stack([m.affine() @ k for m, k in zip(metas, k_orig)])


def _footprints(metas: list[ImageMeta], hw: tuple[int, int]) -> np.ndarray:
    valid = np.zeros((len(metas),) + hw, bool)
    for i, meta in enumerate(metas):
        left, top, right, bottom = meta.footprint()
        valid[i, top:bottom, left:right] = True
    return valid


def _depth_points(depth: np.ndarray, extrinsics: np.ndarray, k_model: np.ndarray) -> np.ndarray:
    """``[S, H, W, 3]`` world points of pixel centres (corner-origin intrinsics, hence the half-pixel shift)."""
    k = k_model.copy()
    k[:, :2, 2] -= 0.5  # pixel (u, v) has its centre at (u + 0.5, v + 0.5)
    as32 = [torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in (depth, extrinsics, k)]
    return unproject_depth(*as32).numpy()  # float32: half the memory of float64, ample precision


def _confident(conf: np.ndarray, valid: np.ndarray, world: np.ndarray, percentile: float) -> np.ndarray:
    usable = valid & np.isfinite(world).all(-1) & np.isfinite(conf)
    if not usable.any():
        return usable
    threshold = np.percentile(conf[usable], percentile) if percentile > 0 else -np.inf
    return usable & (conf >= threshold)


def _subsample(mask: np.ndarray, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Indices ``(s, v, u)`` of at most ``limit`` True entries of ``mask [S, H, W]``, random but sorted."""
    idx = np.flatnonzero(mask)
    if len(idx) > limit:
        idx = np.sort(rng.choice(idx, size=limit, replace=False))
    return np.unravel_index(idx, mask.shape)


def track_for_ba(
    predictor: Predictor, inter: Intermediates, images_u8: np.ndarray, valid: np.ndarray, options: ReconstructOptions
) -> Tracks:
    """Step 3: corners of evenly spaced query frames (frame 0 included), tracked through every frame."""
    s = len(images_u8)
    opts = options.ba_options
    fmaps = feature_maps(predictor, inter)  # [1, S, C, h, w]
    query_frames = sorted({int(round(f)) for f in np.linspace(0, s - 1, min(opts.query_frames, s))})
    frame_ids, xy = [], []
    for f in query_frames:
        image = torch.from_numpy(images_u8[f]).permute(2, 0, 1).float() / 255  # [H, W, 3] -> [3, H, W]
        corners = detect_corners(image, opts.points_per_frame, mask=torch.from_numpy(valid[f])).numpy()
        frame_ids.append(np.full(len(corners), f))
        xy.append(corners)
    return track_queries(predictor, fmaps, np.concatenate(frame_ids), np.concatenate(xy), options.track_iters)


def adjust(
    tracks: Tracks,
    images_u8: np.ndarray,
    metas: list[ImageMeta],
    valid: np.ndarray,
    extrinsics: np.ndarray,
    k_orig: np.ndarray,
    options: ReconstructOptions,
) -> tuple[BAResult | None, str | None]:
    """Step 4: bundle adjustment of ``extrinsics [S, 3, 4]`` / ``k_orig [S, 3, 3]`` with ``tracks``.

    Returns the result, or None and the reason when BA could not run (too few points, pycolmap failed).
    """
    s = len(metas)
    opts = options.ba_options
    h, w = valid.shape[1:]
    xy_orig = np.stack([m.model_to_original(tracks.xy[i], centered=True) for i, m in enumerate(metas)]) + 0.5
    vs = np.clip(np.round(tracks.xy).astype(int), 0, [w - 1, h - 1])  # [S, N, 2]
    inside = valid[np.arange(s)[:, None], vs[..., 1], vs[..., 0]]  # [S, N]
    mask = (tracks.vis >= opts.vis_threshold) & (tracks.conf >= opts.conf_threshold) & inside
    mask[tracks.query_frame, np.arange(len(tracks.query_frame))] = True  # the query itself
    q = np.round(tracks.query_xy).astype(int)
    colors = images_u8[tracks.query_frame, q[:, 1], q[:, 0]]
    return _bundle_adjust(extrinsics, k_orig, metas, xy_orig, mask, colors, options)


def _bundle_adjust(extrinsics, k_orig, metas, xy, mask, colors, options):  # noqa: ANN001, ANN202
    """:func:`bundle_adjust_tracks` on tracks ``xy [S, N, 2]`` (original pixels, corner origin) / ``mask [S, N]``:
    the result and None, or None and the reason it could not run (too few points, pycolmap failed)."""
    pixel_scale = np.array([1.0 / m.scale[0] for m in metas])
    try:
        result = bundle_adjust_tracks(
            extrinsics, k_orig, [m.original_size for m in metas], xy, mask, colors, pixel_scale,
            options.ba_options, options.shared_camera, options.camera_model,
        )  # fmt: skip
    except RuntimeError as exc:
        log.warning("bundle adjustment skipped: %s", exc)
        return None, str(exc)
    return result, None


def adjust_matches(
    solved: SolvedCameras,
    images_u8: np.ndarray,
    metas: list[ImageMeta],
    extrinsics: np.ndarray,
    k_orig: np.ndarray,
    options: ReconstructOptions,
) -> tuple[BAResult | None, str | None]:
    """Step 4 with ``cameras="matches"``: bundle adjustment on the camera solve's inlier matches (chained into
    tracks) instead of the track head's tracks. Returns the result, or None and the reason it could not run.

    A focal length the solve found in three views (or was given, or read from EXIF) is held: freeing it let BA trade
    it against the depths on orbits (templeSparseRing AUC@30 87.9 held vs 61.6 free, dtu_scan37 94.6 vs 92.5,
    capture-kwrous 45.1 vs 35.1; training_study.md §20). Tracks seen in two frames count (they are inliers of a
    verified pair; the track head's need three): on a ring of cameras few chains reach three frames
    (templeSparseRing: 318 points from three-frame tracks, AUC@30 60.6; 1,388 with two-frame ones, 97.6; §21)."""
    xy, mask = solved.tracks()
    if xy.shape[1] == 0:
        return None, "no matches to adjust on"
    ba = replace(options.ba_options, min_track_length=min(options.ba_options.min_track_length, 2))
    if solved.focal_source != "camera head":
        ba = replace(ba, refine_focal_length=False)
    options = replace(options, ba_options=ba)
    first = mask.argmax(0)  # the first frame that sees each track gives its colour
    n = np.arange(xy.shape[1])
    model_xy = np.stack([m.original_to_model(xy[i]) for i, m in enumerate(metas)])  # corner origin
    h, w = images_u8.shape[1:3]
    col = np.clip(np.floor(model_xy[first, n, 0]).astype(int), 0, w - 1)
    row = np.clip(np.floor(model_xy[first, n, 1]).astype(int), 0, h - 1)
    colors = images_u8[first, row, col]
    return _bundle_adjust(extrinsics, k_orig, metas, xy, mask, colors, options)


@dataclass
class RawPredictions:
    """The model outputs a reconstruction is assembled from (numpy, one scene, model-input grid)."""

    pose_enc: np.ndarray  # [S, 9]
    depth: np.ndarray  # [S, H, W]
    depth_conf: np.ndarray  # [S, H, W]
    world_points: np.ndarray | None = None  # [S, H, W, 3]
    world_points_conf: np.ndarray | None = None  # [S, H, W]

    @classmethod
    def from_output(cls, out: PredictorOutput) -> RawPredictions:
        def first(x: torch.Tensor | None) -> np.ndarray | None:
            return None if x is None else x[0].numpy()

        return cls(
            pose_enc=first(out.pose_enc),
            depth=out.depth[0, ..., 0].numpy(),  # [1, S, H, W, 1] -> [S, H, W]
            depth_conf=first(out.depth_conf),
            world_points=first(out.world_points),
            world_points_conf=first(out.world_points_conf),
        )


def predict(predictor: Predictor, images: torch.Tensor, options: ReconstructOptions) -> PredictorOutput:
    """Step 2: one forward pass over ``images [S, 3, H, W]``; tokens kept for the track head when BA follows."""
    return predictor(images, heads=_forward_heads(options), keep_intermediates=_head_tracks(options))


# ---------------------------------------------------------------------------------------------- main
def reconstruct(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    weights: str | os.PathLike = "default",
    model=None,  # noqa: ANN001 - a loaded VGGT, to skip loading
    options: ReconstructOptions | None = None,
    reference: str | os.PathLike | None = None,
    predictor: Predictor | None = None,
    **overrides,
) -> Reconstruction:
    """Reconstruct a scene from ``inputs``: folders, image files, globs, videos, or images in memory
    (numpy ``[H, W, 3]`` uint8 / float in [0, 1], or PIL images; a robot's camera frames).

    The model comes from ``predictor``, else ``model``, else ``weights`` (loaded for this call).
    ``options`` fields can also be given as keyword arguments (``ba=True``, ``mode="pad"``, ...).
    ``reference``: a ``cameras.json`` (see ``../shared/scenes``) to score the cameras against.
    """
    options = replace(options or ReconstructOptions(), **overrides)
    options.check()
    timer = StageTimer()
    with timer("collect inputs"):
        frames = collect_inputs(inputs, fps=options.fps, max_frames=options.max_frames)
        if reference is not None:  # fail before the model runs
            check_reference(reference, [f.name for f in frames])
    given = model is not None or predictor is not None
    options = replace(options, cameras=resolve_cameras(options.cameras, None if given else weights))
    if options.cameras == "head" and options.solve_options.focal is not None:
        raise InputError("--focal applies to --cameras matches; these cameras come from the camera head")
    with timer("load model"):
        heads = _forward_heads(options) + (("track",) if _head_tracks(options) else ())
        predictor = load_predictor(
            weights, heads, model=model, predictor=predictor, device=options.device, dtype=options.dtype,
            mode=options.mode, size=options.size,
        )  # fmt: skip
    with timer("load images"):
        size = predictor.size
        if _head_tracks(options) and options.size is None and len(frames) > 1:  # a small model's width can be too small
            size = size_for_tracks(frames, options.mode, size, predictor.config.patch_size, MIN_TRACK_SIDE)
            if size != predictor.size:
                log.info("--ba: model input raised to %d px wide so that tracks get %d px a side", size, MIN_TRACK_SIDE)
        images, metas = load_frames(frames, options.mode, size)
    if _head_tracks(options) and len(frames) > 1 and min(images.shape[-2:]) < MIN_TRACK_SIDE:  # fail before inference
        raise InputError(
            f"--ba tracks points, which needs a model input of at least {MIN_TRACK_SIDE} px per side; this one "
            f"is {images.shape[-1]}x{images.shape[-2]}: use --mode pad or a larger --size (e.g. 224)"
        )
    if options.shared_camera and len({m.original_size for m in metas}) > 1:
        raise InputError("--shared-camera needs images of one size; these differ: " + _size_list(metas))
    log.info(
        "%d images -> model input %dx%d on %s (%s)",
        len(frames), images.shape[-1], images.shape[-2], predictor.device, predictor.dtype,
    )  # fmt: skip
    with timer("inference"):
        out = predict(predictor, images, options)
    raw = RawPredictions.from_output(out)
    hw = tuple(images.shape[-2:])
    images_u8 = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # [S, 3, H, W] -> [S, H, W, 3]
    valid = _footprints(metas, hw)  # [S, H, W] pixels of the model input that show the image
    tracks = None
    if _head_tracks(options) and len(frames) > 1:
        with timer("tracking"):
            tracks = track_for_ba(predictor, out.intermediates, images_u8, valid, options)
    out.intermediates = None  # the tokens are large: free them before BA
    rec = assemble(frames, metas, images_u8, valid, raw, options, tracks=tracks, timer=timer)
    rec.weights = "(a model passed in)" if given else str(weights)
    rec.timings = timer.seconds
    if reference is not None:
        rec.compare(reference)
    return rec


def assemble(
    frames: list[InputFrame],
    metas: list[ImageMeta],
    images_u8: np.ndarray,
    valid: np.ndarray,
    raw: RawPredictions,
    options: ReconstructOptions,
    tracks: Tracks | None = None,
    timer: StageTimer | None = None,
) -> Reconstruction:
    """Steps 4-5: cameras from the predictions (or solved from matches, ``options.cameras``), BA with ``tracks``
    when ``options.ba``, points, COLMAP model."""
    timer = timer or StageTimer()
    hw = valid.shape[1:]
    extrinsics_pred, _, k_pred = predicted_cameras(torch.from_numpy(raw.pose_enc), metas, hw)
    solved = None
    if options.cameras == "matches":  # "auto" is resolved by reconstruct(); here (saved runs) it means the head
        with timer("camera solve"):
            solved = solve_cameras(frames, metas, raw.depth, extrinsics_pred, k_pred, options.solve_options)
        extrinsics_pred, k_pred = solved.extrinsics, solved.intrinsics
    extrinsics, k_orig = extrinsics_pred, _finalise_intrinsics(k_pred, options)
    ba_result = reason = None
    if options.ba and solved is None and tracks is None:
        reason = "bundle adjustment needs at least 2 images"
    elif options.ba:
        with timer("bundle adjustment"):
            if solved is not None:  # the solve's inlier matches, chained into tracks
                ba_result, reason = adjust_matches(solved, images_u8, metas, extrinsics, k_orig, options)
            else:
                ba_result, reason = adjust(tracks, images_u8, metas, valid, extrinsics, k_orig, options)
        if ba_result is not None:
            extrinsics, k_orig = ba_result.extrinsics, ba_result.intrinsics
    with timer("points"):
        cameras = (extrinsics_pred, k_pred, extrinsics, k_orig)
        rec, sparse = _assemble(frames, metas, images_u8, valid, raw, cameras, options)
        rec.ba, rec.ba_skipped, rec.tracks, rec.camera_solve = ba_result, reason, tracks, solved
        rec.colmap = _colmap(rec, options, sparse)
    rec.timings = timer.seconds
    return rec


def _size_list(metas: list[ImageMeta]) -> str:
    sizes = sorted({f"{w}x{h}" for w, h in (m.original_size for m in metas)})
    return ", ".join(sizes[:4]) + (", ..." if len(sizes) > 4 else "")


def _assemble(frames, metas, images_u8, valid, raw, cameras, options):  # noqa: ANN001, ANN202
    """The :class:`Reconstruction` (without its COLMAP model) and a sample of points for the sparse model.

    ``cameras``: (predicted extrinsics, predicted original intrinsics, final extrinsics, final intrinsics).
    """
    extrinsics_pred, k_pred, extrinsics, k_orig = cameras
    depth = raw.depth.astype(np.float32)
    depth_conf = raw.depth_conf.astype(np.float32)
    depth = np.where(valid, depth, 0.0).astype(np.float32)
    k_model = _to_model(k_orig, metas)
    if options.use_point_map:
        if raw.world_points is None:
            raise InputError("--use-point-map needs the point head's output, which these predictions lack")
        world, conf, usable = raw.world_points, raw.world_points_conf, valid
        if options.ba:
            log.warning("--use-point-map: the point map stays in the predicted cameras' frame after BA")
    else:
        world = _depth_points(depth, extrinsics, k_model)
        conf, usable = depth_conf, valid & (depth > 0)
    keep = _confident(conf, usable, world, options.conf_threshold)
    s, v, u = _subsample(keep, options.max_points, np.random.default_rng(options.seed))
    rec = Reconstruction(
        frames=frames,
        metas=metas,
        images=images_u8,
        pose_enc=raw.pose_enc,
        extrinsics=extrinsics,
        intrinsics=k_orig,
        intrinsics_model=k_model,
        extrinsics_pred=extrinsics_pred,
        intrinsics_pred=k_pred,
        depth=depth,
        depth_conf=depth_conf,
        valid=valid,
        world_points=raw.world_points,
        world_points_conf=raw.world_points_conf,
        points=world[s, v, u].astype(np.float32),
        colors=images_u8[s, v, u],
        points_conf=conf[s, v, u].astype(np.float32),
        colmap=None,  # filled in by _colmap
        options=options,
    )
    sparse = _subsample(keep, options.colmap_points, np.random.default_rng(options.seed + 1))
    return rec, (world[sparse], sparse)


def _colmap(rec: Reconstruction, options: ReconstructOptions, sparse) -> ColmapModel:  # noqa: ANN001
    """The sparse model: BA points and tracks, or a sample of the dense cloud seen once each."""
    if rec.ba is not None:
        b = rec.ba
        points, colors, obs_point, obs_frame, obs_xy = b.points, b.colors, b.obs_point, b.obs_frame, b.obs_xy
    else:
        points, (s, v, u) = sparse
        colors = rec.images[s, v, u]
        obs_point, obs_frame = np.arange(len(s)), s
        pix = np.stack([u, v], axis=-1).astype(np.float64) + 0.5  # model pixel centres, corner origin
        obs_xy = np.zeros_like(pix)
        for i, meta in enumerate(rec.metas):
            sel = s == i
            obs_xy[sel] = meta.model_to_original(pix[sel])
    return build_model(
        rec.names, rec.sizes, rec.extrinsics, rec.intrinsics, points, colors, obs_point, obs_frame, obs_xy,
        options.camera_model, options.shared_camera,
    )  # fmt: skip
