"""``openvggt reconstruct --chunk N --overlap K``: a long sequence reconstructed chunk by chunk.

The chunks run through the :class:`~openvggt.Predictor` one after another (:mod:`openvggt.longseq`), are aligned
by robust Sim(3) fits on their overlap, optionally loop-closed, and written as one reconstruction in frame 0's
coordinates — the same files as ``reconstruct`` (see :mod:`openvggt.pipeline.outputs`), written as a stream:

    images/<name>  sparse/0/  points.ply  scene.glb  depth/<stem>.{npy,png}, <stem>_conf.npy, meta.json
    cameras.npz (final and pre-loop-closure cameras, chunk poses)  transforms.json  run.json  report.html

Memory: chunk predictions go to a store on disk inside the (temporary) output folder; the writing pass reads
one chunk at a time; the point cloud is voxel-downsampled as it is built. What grows with the sequence is only
per-frame metadata (cameras, names): kilobytes. ``predictions.npz`` of the one-pass pipeline is replaced by
``cameras.npz`` plus the per-frame depth files (a dense npz of 2,000 frames would not fit the memory bound).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openvggt.data.readers import read_scene
from openvggt.errors import InputError
from openvggt.geometry.alignment import align_cameras_sim3
from openvggt.io.colmap import write_model
from openvggt.io.glb import write_glb
from openvggt.io.nerfstudio import write_transforms
from openvggt.io.ply import write_ply
from openvggt.longseq import plan as planning
from openvggt.longseq.chunked import AlignOptions, ChunkedRun, ChunkModel, PredictorChunkModel, run_chunks
from openvggt.longseq.loop import LoopOptions, close_loops
from openvggt.longseq.metrics import DepthAccumulator, camera_centres, gt_depth_at_model, trajectory_metrics
from openvggt.longseq.report import trajectory_png, write_report
from openvggt.longseq.sequences import GroundTruth, scene_sequence
from openvggt.longseq.sim3 import apply, transform_extrinsics
from openvggt.longseq.source import FrameSource, open_source, save_frame
from openvggt.longseq.store import ChunkStore, unproject
from openvggt.longseq.voxel import VoxelCloud
from openvggt.models.config import VGGTConfig
from openvggt.pipeline.colmap_export import build_model
from openvggt.pipeline.outputs import atomic_dir, check_output_dir, depth_keys, write_depth_files
from openvggt.pipeline.timing import StageTimer
from openvggt.predictor import Predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkedOptions:
    chunk: int | None = None  # frames per chunk; None: the largest that fits max_memory
    overlap: int | None = None  # frames shared by consecutive chunks; None: a quarter of the chunk
    max_memory: float | None = None  # GB for one chunk's forward pass; None: from the device
    loop_closure: bool = False
    merge_tokens: float = 0.0  # token merging ratio in global attention (0 = exact)
    mode: str = "crop"
    size: int | None = None
    device: str = "auto"
    dtype: str = "fp32"
    conf_threshold: float = 50.0  # percentile per chunk below which points are dropped
    max_points: int = 2_000_000  # voxels in points.ply (the voxel size doubles beyond)
    colmap_points: int = 100_000
    camera_model: str = "PINHOLE"
    stride: int = 1  # every stride-th frame of a video or folder
    max_frames: int | None = None
    align: AlignOptions = field(default_factory=AlignOptions)
    loops: LoopOptions = field(default_factory=LoopOptions)

    def check(self) -> None:
        if self.mode not in ("crop", "pad"):
            raise InputError(f"--mode must be crop or pad, got {self.mode!r}")
        if not 0.0 <= self.merge_tokens < 1.0:
            raise InputError(f"--merge-tokens is a ratio in [0, 1), got {self.merge_tokens}")
        if not 0.0 <= self.conf_threshold < 100.0:
            raise InputError(f"--conf-threshold is a percentile in [0, 100), got {self.conf_threshold}")
        if self.chunk is not None and self.chunk < 1:
            raise InputError(f"--chunk must be at least 1, got {self.chunk}")
        if self.overlap is not None and self.overlap < 0:
            raise InputError(f"--overlap must be non-negative, got {self.overlap}")
        if self.max_memory is not None and not self.max_memory > 0:
            raise InputError(f"--max-memory must be positive (GB), got {self.max_memory}")
        if self.size is not None and (self.size < 14 or self.size % 14):
            raise InputError(f"--size must be a positive multiple of 14, got {self.size}")
        if self.stride < 1:
            raise InputError(f"--stride must be at least 1, got {self.stride}")


@dataclass
class ChunkedResult:
    out: Path
    names: list[str]
    extrinsics: np.ndarray  # [S, 3, 4] final, sequence world (frame 0's chunk)
    intrinsics: np.ndarray  # [S, 3, 3] original pixels, corner origin
    extrinsics_before_loops: np.ndarray | None
    summary: dict


def make_predictor(weights, model, options: ChunkedOptions) -> Predictor:  # noqa: ANN001
    if model is not None:
        predictor = Predictor(
            model=model, device=options.device, dtype=options.dtype, mode=options.mode, size=options.size
        )
    else:
        predictor = Predictor(
            weights,
            device=options.device,
            dtype=options.dtype,
            heads=("camera", "depth"),
            mode=options.mode,
            size=options.size,
        )
    predictor.model.aggregator.merge_ratio = options.merge_tokens
    return predictor


def plan_for(num_frames: int, options: ChunkedOptions, predictor=None, hw=None) -> list[planning.Chunk]:  # noqa: ANN001
    """The chunk plan: ``--chunk`` as given, else the largest chunk the memory budget allows."""
    chunk = options.chunk
    if chunk is None:
        budget = options.max_memory or planning.default_memory_budget(predictor.device)
        model_bytes = sum(p.numel() * p.element_size() for p in predictor.model.parameters())
        dtype = predictor.dtype if predictor.dtype in planning.BYTES else "fp32"  # the resolved precision
        chunk = planning.chunk_for_budget(predictor.config, hw, budget, dtype, model_bytes)
        log.info("memory budget %.1f GB -> chunks of up to %d frames", budget, chunk)
    overlap = options.overlap if options.overlap is not None else planning.default_overlap(chunk)
    return planning.plan_chunks(num_frames, chunk, overlap)


def reconstruct_chunked(
    inputs,
    out_dir: str | os.PathLike,
    weights: str = "default",
    model=None,  # noqa: ANN001
    options: ChunkedOptions | None = None,
    overwrite: bool = False,
    copy_images: bool = True,
    source: FrameSource | None = None,
    gt: GroundTruth | None = None,
    chunk_model: ChunkModel | None = None,
) -> ChunkedResult:
    """Reconstruct ``inputs`` (a video, a folder, image files; or a ready ``source``) chunk by chunk into
    ``out_dir``. ``gt``: reference cameras/depth to score against (report and run.json). ``chunk_model``
    replaces the predictor (tests use an oracle)."""
    options = options or ChunkedOptions()
    options.check()
    out = Path(out_dir)
    check_output_dir(out, overwrite)
    timer = StageTimer()
    with timer("open inputs"):
        source = source or open_source(inputs, stride=options.stride, max_frames=options.max_frames)
    if gt is not None and len(gt.extrinsics) != len(source):
        raise InputError(f"the reference has {len(gt.extrinsics)} frames, the input {len(source)}")
    predictor = None
    with timer("load model"):
        if chunk_model is None:
            predictor = make_predictor(weights, model, options)
            chunk_model = PredictorChunkModel(predictor, source)
    hw = None
    if predictor is not None:
        hw = tuple(predictor.preprocess([source[0]])[0].shape[-2:])
    plan = plan_for(len(source), options, predictor, hw)
    log.info("%s -> %d chunk(s) of up to %d frames", source.describe(), len(plan), max(len(c) for c in plan))
    try:
        label = str(weights) if model is None else "(a model passed in)"
        return _run_and_write(chunk_model, plan, source, out, overwrite, options, copy_images, gt, timer, label)
    finally:
        if predictor is not None:
            predictor.model.aggregator.merge_ratio = 0.0  # a model passed in is left in exact mode


def _run_and_write(chunk_model, plan, source, out, overwrite, options, copy_images, gt, timer, label):  # noqa: ANN001, ANN202
    with atomic_dir(out, overwrite) as tmp:
        store = ChunkStore(tmp / ".chunks")
        with timer("chunks"):
            run = run_chunks(chunk_model, plan, store, options.align)
        if options.loop_closure and len(plan) > 2:
            with timer("loop closure"):
                close_loops(chunk_model, run, options.loops, options.align)
        with timer("write outputs"):
            result, chunk_rows = _write(run, source, tmp, options, copy_images, gt)
        shutil.rmtree(tmp / ".chunks")
        result.summary["weights"] = label
        result.summary["timings_s"] = {k: round(v, 3) for k, v in timer.seconds.items()}
        (tmp / "run.json").write_text(json.dumps(result.summary, indent=1, default=str))
        _report(tmp / "report.html", result, run, chunk_rows, gt)
    result.out = Path(os.path.abspath(out))
    return result


# ---------------------------------------------------------------------------------------------- writing
def _frame_cameras(run: ChunkedRun, chunk, pred):  # noqa: ANN001, ANN202
    own = np.flatnonzero(pred.frames >= chunk.own_start)
    g = run.poses[chunk.index]
    return own, transform_extrinsics(g, pred.extrinsics[own]), float(np.cbrt(np.linalg.det(g[:3, :3])))


def _write(
    run: ChunkedRun, source: FrameSource, tmp: Path, options: ChunkedOptions, copy_images: bool, gt: GroundTruth | None
) -> tuple[ChunkedResult, list[dict]]:
    n = run.num_frames
    names = source.names
    extrinsics = np.zeros((n, 3, 4))
    k_model = np.zeros((n, 3, 3))
    before = np.zeros((n, 3, 4)) if run.poses_before_loops is not None else None
    sizes: list[tuple[int, int]] = [(0, 0)] * n
    k_orig = np.zeros((n, 3, 3))
    top = 0.0
    for chunk in run.plan:  # cameras and the largest depth (for the 16-bit PNG scale) first
        pred = run.store.load(chunk.index)
        own, cams, scale = _frame_cameras(run, chunk, pred)
        frames = pred.frames[own]
        extrinsics[frames], k_model[frames] = cams, pred.intrinsics[own]
        if before is not None:
            before[frames] = transform_extrinsics(run.poses_before_loops[chunk.index], pred.extrinsics[own])
        top = max(top, scale * float(np.max(pred.depth[own], initial=0.0)))
        hw = pred.depth.shape[1:]
    for f in range(n):
        meta = run.metas.get(f)
        if meta is not None:
            sizes[f] = tuple(meta.original_size)
            k_orig[f] = meta.intrinsics_to_original(k_model[f])
        else:  # sources without preprocessing (the oracle): the stored image is the model input
            sizes[f] = (hw[1], hw[0])
            k_orig[f] = k_model[f]
    reference = None
    depth_acc = None
    if gt is not None:
        reference = trajectory_metrics(extrinsics, gt.extrinsics)
        if before is not None:
            reference["before_loop_closure"] = trajectory_metrics(before, gt.extrinsics)
        depth_acc = DepthAccumulator(reference["sim3_scale"])
    cloud = VoxelCloud(max_voxels=options.max_points)
    depth_dir = tmp / "depth"
    depth_dir.mkdir()
    png_scale = 65535.0 / (top if top > 0 else 1.0)
    keys = depth_keys(names)
    meta_json = {
        "depth_scale": png_scale,
        "png": "uint16, depth = value / depth_scale, 0 = no depth",
        "units": "the sequence's units (frame 0's chunk scale), the same as the cameras",
        "images": {},
    }
    if copy_images:
        (tmp / "images").mkdir()
    chunk_rows = []
    bar = tqdm(run.plan, desc="writing", unit="chunk", disable=None)
    for chunk in bar:
        pred = run.store.load(chunk.index)
        own, cams, scale = _frame_cameras(run, chunk, pred)
        depth = np.asarray(pred.depth[own], np.float64) * scale  # [n, H, W] sequence units
        conf, valid = np.asarray(pred.conf[own]), np.asarray(pred.valid[own])
        usable = valid & (depth > 0) & np.isfinite(depth) & np.isfinite(conf)
        keep = usable & (conf >= np.percentile(conf[usable], options.conf_threshold)) if usable.any() else usable
        world = apply(run.poses[chunk.index], unproject(pred.depth[own], pred.extrinsics[own], pred.intrinsics[own]))
        rows, v, u = np.nonzero(keep)
        frames = pred.frames[own]
        pixel = np.stack([u, v], -1).astype(np.float64) + 0.5
        for r, f in enumerate(frames):
            meta = run.metas.get(int(f))
            sel = rows == r
            if meta is not None:
                pixel[sel] = meta.model_to_original(pixel[sel])
        images = np.asarray(pred.images[own])
        cloud.add(world[rows, v, u], images[rows, v, u], conf[rows, v, u], frames[rows], pixel)
        for r, f in enumerate(frames):
            f = int(f)
            _write_depth(
                depth_dir, keys[f], names[f], depth[r], conf[r], valid[r], png_scale, run.metas.get(f), meta_json
            )
            if copy_images:
                dst = tmp / "images" / names[f]
                dst.parent.mkdir(parents=True, exist_ok=True)
                save_frame(source, f, dst)
            if depth_acc is not None:
                ref = gt.depth(f)
                if ref is not None:
                    meta = run.metas.get(f)
                    ref_m = gt_depth_at_model(ref, meta, depth.shape[1:]) if meta is not None else ref
                    depth_acc.add(np.where(valid[r], depth[r], 0.0), ref_m)
        fit = run.fits[chunk.index]
        chunk_rows.append(
            {
                "chunk": chunk.index,
                "frames": f"{chunk.start}-{chunk.end - 1}",
                "scale to previous": fit.scale if fit else 1.0,
                "median residual": fit.median_residual if fit else 0.0,
                "inliers": fit.inlier_fraction if fit else 1.0,
                "seconds": run.seconds[chunk.index],
            }
        )
        bar.set_postfix(voxels=len(cloud))
    (depth_dir / "meta.json").write_text(json.dumps(meta_json, indent=1))
    if depth_acc is not None:
        reference.update(depth_acc.result())
    points, colors, pconf = cloud.points()
    write_ply(tmp / "points.ply", points, colors, {"confidence": pconf})
    glb = np.arange(len(points))
    if len(glb) > 500_000:
        glb = np.sort(np.random.default_rng(0).choice(glb, 500_000, replace=False))
    write_glb(tmp / "scene.glb", points[glb], colors[glb], extrinsics, k_orig, sizes)
    sparse = np.arange(len(points))
    if len(sparse) > options.colmap_points:
        sparse = np.sort(np.random.default_rng(1).choice(sparse, options.colmap_points, replace=False))
    model = build_model(
        names,
        sizes,
        extrinsics,
        k_orig,
        points[sparse],
        colors[sparse],
        np.arange(len(sparse)),
        cloud.frame[sparse],
        cloud.pixel[sparse].astype(np.float64),
        options.camera_model,
    )
    write_model(model, tmp / "sparse" / "0")
    write_transforms(
        tmp / "transforms.json", [f"images/{nm}" for nm in names], extrinsics, k_orig, sizes, ply_file_path="points.ply"
    )
    arrays = {
        "extrinsic": extrinsics,
        "intrinsic_original": k_orig,
        "intrinsic": k_model,
        "names": np.array(names),
        "chunk_poses": np.stack(run.poses),
        "original_size": np.array(sizes),
    }
    if before is not None:
        arrays["extrinsic_before_loop_closure"] = before
    np.savez_compressed(tmp / "cameras.npz", **arrays)
    chunk = max(len(c) for c in run.plan)
    summary = {
        "frames": n,
        "chunks": len(run.plan),
        "chunk": chunk,
        "overlap": (run.plan[0].end - run.plan[1].start) if len(run.plan) > 1 else 0,
        "loop_closure": options.loop_closure,
        "merge_tokens": options.merge_tokens,
        "loops": [{"chunks": [e.a, e.b], "frames": list(e.frames), "similarity": e.similarity} for e in run.edges],
        "points": int(len(points)),
        "voxel_size": cloud.voxel,
        "sparse_points": int(len(sparse)),
        "reference": reference,
        "options": asdict(options),
        "chunk_seconds": [round(s, 3) for s in run.seconds],
    }
    return ChunkedResult(tmp, list(names), extrinsics, k_orig, before, summary), chunk_rows


def _write_depth(folder: Path, key: str, name: str, depth, conf, valid, scale: float, meta, meta_json: dict):  # noqa: ANN001
    """One frame's depth files in the layout of :func:`openvggt.pipeline.outputs.save_depth`."""
    rows, cols = np.nonzero(valid)
    if len(rows):
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    else:
        top, bottom, left, right = 0, depth.shape[0], 0, depth.shape[1]
    d = write_depth_files(folder / key, depth[top:bottom, left:right], conf[top:bottom, left:right], scale)
    box = np.array([[left, top], [right, bottom]], np.float64)
    if meta is not None:
        box = meta.model_to_original(box)
    meta_json["images"][name] = {
        "depth": f"{key}.npy",
        "size": [int(d.shape[1]), int(d.shape[0])],
        "original_box": [float(x) for x in box.reshape(-1)],
    }


def _report(path: Path, result: ChunkedResult, run: ChunkedRun, chunk_rows: list[dict], gt: GroundTruth | None) -> None:
    centres = {"final": camera_centres(result.extrinsics)}
    if gt is not None:  # the reference moved onto the reconstruction by a Sim(3) (camera centres)
        ref, _ = align_cameras_sim3(np.asarray(gt.extrinsics, np.float64), result.extrinsics)
        centres["reference (Sim(3)-aligned)"] = camera_centres(ref)
    if result.extrinsics_before_loops is not None:
        centres = {"before loop closure": camera_centres(result.extrinsics_before_loops), **centres}
    loops = [tuple(e.frames) for e in run.edges]
    loop_rows = [
        {"chunks": f"{e.a}-{e.b}", "frames": f"{e.frames[0]}-{e.frames[1]}", "similarity": e.similarity or 0.0}
        for e in run.edges
    ]
    write_report(path, result.summary, trajectory_png(centres, loops), chunk_rows, loop_rows)


# ---------------------------------------------------------------------------------------------- command line
def too_many_for_one_pass(args) -> bool:  # noqa: ANN001 - argparse namespace of `openvggt reconstruct`
    """Whether a folder or a list of images has more frames than one pass fits in the default memory budget.

    Videos keep the one-pass default (a sample of 32 frames) unless a long-sequence flag is given.
    """
    try:
        source = open_source(args.inputs)
    except InputError:
        return False  # globs, videos, mixtures: the one-pass pipeline reports its own errors
    if len(source) <= 64 or not hasattr(source, "paths"):
        return False
    config = VGGTConfig.preset("vggt-small") if args.weights == "default" else VGGTConfig()
    side = args.size or config.img_size
    per_frame = planning.frame_bytes(config, (side * 3 // 4 // 14 * 14, side), args.dtype)
    budget = planning.default_memory_budget("cpu" if args.device == "auto" else args.device)
    if len(source) * per_frame <= budget * 1e9:
        return False
    log.warning("%d frames do not fit one pass in %.1f GB: reconstructing chunk by chunk", len(source), budget)
    return True


def run_chunked_cli(args) -> int:  # noqa: ANN001
    """``openvggt reconstruct`` with long-sequence flags (see :mod:`openvggt.pipeline.cli`, which sets --threads)."""
    options = ChunkedOptions(
        chunk=args.chunk,
        overlap=args.overlap,
        max_memory=args.max_memory,
        loop_closure=args.loop_closure,
        merge_tokens=args.merge_tokens,
        mode=args.mode,
        size=args.size,
        device=args.device,
        dtype=args.dtype,
        conf_threshold=args.conf_threshold,
        camera_model=args.camera_model,
        stride=args.stride,
        max_frames=args.max_frames,
    )
    if args.ba or args.use_point_map or args.shared_camera or args.fps:
        raise InputError("--ba, --use-point-map, --shared-camera and --fps are not available in chunked mode yet")
    if args.cameras == "matches" or args.focal is not None:  # auto: the chunks keep the camera head's cameras
        raise InputError("--cameras matches and --focal are not available in chunked mode yet (chunks use the head)")
    gt = None
    if args.reference:
        ref = Path(args.reference)
        _, gt = scene_sequence(read_scene(ref.parent if ref.is_file() else ref))
    result = reconstruct_chunked(
        args.inputs,
        args.out,
        weights=args.weights,
        options=options,
        overwrite=args.overwrite,
        copy_images=not args.no_images,
        gt=gt,
    )
    s = result.summary
    print(f"reconstructed {s['frames']} frames in {s['chunks']} chunks of {s['chunk']} -> {result.out}")
    if options.loop_closure:
        print(f"loop closure: {len(s['loops'])} loop(s) closed")
    if s.get("reference"):
        r = s["reference"]
        print(
            f"vs reference: ATE {r['ate_rmse']:.4f}, RPE {r['rpe_trans']:.4f} / {r['rpe_rot_deg']:.3f} deg, "
            f"AUC@30 {r['auc30']:.1f}, depth AbsRel {r.get('abs_rel', float('nan')):.3f}"
        )
    print(f"report: {result.out / 'report.html'}")
    return 0
