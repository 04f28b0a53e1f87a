"""``openvggt reconstruct``, ``track``, ``ba`` and ``export``: the command-line faces of the pipeline."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from openvggt.errors import UserError
from openvggt.pipeline.ba import BAOptions
from openvggt.pipeline.camera_solve import SolveOptions
from openvggt.pipeline.chunked import run_chunked_cli, too_many_for_one_pass
from openvggt.pipeline.outputs import check_output_dir
from openvggt.pipeline.reconstruct import ReconstructOptions, reconstruct
from openvggt.pipeline.saved import export, load_run, rebundle
from openvggt.pipeline.timing import format_timings
from openvggt.pipeline.track import track_points
from openvggt.runtime import DTYPE_NAMES

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image folder, image files, a glob, or a video")
    p.add_argument("--out", required=True, type=Path, help="output folder (written atomically)")
    p.add_argument("--weights", default="default", help="weights file, folder or hub id [the shipped model]")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto [auto]")
    p.add_argument("--dtype", default="auto", choices=DTYPE_NAMES, help="precision [auto: the fastest accurate one]")
    p.add_argument("--mode", default="crop", choices=["crop", "pad"], help="preprocessing [crop]")
    p.add_argument("--size", type=int, default=None, help="model input side, multiple of 14 [model's, 518]")
    p.add_argument("--fps", type=float, default=None, help="video: frames per second to sample")
    p.add_argument("--max-frames", type=int, default=None, help="video: at most this many frames [32 without --fps]")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch [torch's default]")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="images or a video in; cameras, depth, points and a COLMAP model out",
        description="Reconstruct a scene: writes sparse/0 (COLMAP), points.ply, scene.glb, depth/, "
        "predictions.npz, transforms.json and report.html into --out.",
    )
    _common(p)
    p.add_argument(
        "--conf-threshold", type=float, default=50.0, help="drop points below this confidence percentile [50]"
    )
    p.add_argument("--use-point-map", action="store_true", help="points from the point head, not depth + cameras")
    p.add_argument("--ba", action="store_true", help="refine cameras by bundle adjustment on tracked points")
    p.add_argument(
        "--cameras", default="auto", choices=["auto", "head", "matches"],
        help="head: the camera head's; matches: solved from SIFT matches of the original images and the predicted "
        "depth; auto: matches with the shipped default model (its camera head is near chance), else head [auto]",
    )  # fmt: skip
    p.add_argument(
        "--focal", type=float, default=None, metavar="PX",
        help="--cameras matches: the images' focal length in original pixels, when known (else EXIF, else solved)",
    )  # fmt: skip
    p.add_argument("--shared-camera", action="store_true", help="one camera (intrinsics) for all images")
    p.add_argument("--camera-model", default="PINHOLE", choices=["PINHOLE", "SIMPLE_PINHOLE"])
    p.add_argument("--query-frames", type=int, default=4, help="--ba: frames to pick track queries in [4]")
    p.add_argument("--points-per-frame", type=int, default=512, help="--ba: queries per query frame [512]")
    p.add_argument("--max-reproj-error", type=float, default=4.0, help="--ba: inlier threshold, model px [4]")
    p.add_argument("--reference", default=None, help="cameras.json (or its folder) to score the cameras with")
    p.add_argument("--no-images", action="store_true", help="do not copy the images into --out/images")
    _long_sequence_args(p)
    p.set_defaults(func=run_reconstruct)

    t = sub.add_parser(
        "track",
        help="track query points through images or a video",
        description="Track points given as (frame, x, y) in original image pixels (pixel centres at integers). "
        "Writes tracks.npz, tracks.json and overlays/ into --out.",
    )
    _common(t)
    t.add_argument("--queries", required=True, help="text (frame x y per line) or JSON file of query points")
    t.add_argument("--iters", type=int, default=None, help="tracker iterations [model's, 4]")
    t.set_defaults(func=run_track)

    e = sub.add_parser(
        "export",
        help="re-write a reconstruct folder's outputs with new filtering options (no model)",
        description="Re-assemble points, COLMAP model, PLY/GLB, depth, transforms.json and report.html from "
        "OUT/predictions.npz. Options not given keep the values of the original run.",
    )
    _saved_common(e)
    e.add_argument("--conf-threshold", type=float, default=None, help="confidence percentile of kept points")
    e.add_argument(
        "--use-point-map", action=argparse.BooleanOptionalAction, default=None, help="points from the point head"
    )
    e.add_argument("--max-points", type=int, default=None, help="at most this many points in points.ply")
    e.add_argument("--no-ba", action="store_true", help="export the predicted cameras of a --ba run instead")
    e.set_defaults(func=run_export)

    b = sub.add_parser(
        "ba",
        help="re-run bundle adjustment on a reconstruct folder with new options",
        description="Bundle adjustment of OUT's predicted cameras on the tracks saved by a --ba run; with --weights "
        "(a model with a track head) the images are tracked again, running only the aggregator and the track head.",
    )
    _saved_common(b)
    b.add_argument("--weights", default=None, help="track again with these weights [use the saved tracks]")
    b.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto [auto]")
    b.add_argument("--dtype", default="auto", choices=DTYPE_NAMES, help="precision [auto]")
    b.add_argument("--query-frames", type=int, default=None, help="frames to pick track queries in (with --weights)")
    b.add_argument("--points-per-frame", type=int, default=None, help="queries per query frame (with --weights)")
    b.add_argument("--max-reproj-error", type=float, default=None, help="inlier threshold, model px")
    b.add_argument("--shared-camera", action=argparse.BooleanOptionalAction, default=None, help="one camera for all")
    b.add_argument("--camera-model", default=None, choices=["PINHOLE", "SIMPLE_PINHOLE"])
    b.set_defaults(func=run_ba)


def _saved_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, metavar="OUT", help="a folder written by openvggt reconstruct")
    p.add_argument("--out", type=Path, default=None, help="where to write [OUT itself, with --overwrite]")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-images", action="store_true", help="do not copy the images into --out/images")


def _given(**values: object) -> dict:
    return {k: v for k, v in values.items() if v is not None}


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that partial outputs are cleaned up."""

    def handler(signum, frame):  # noqa: ANN001, ARG001
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def _long_sequence_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("long sequences (chunked; see docs/long_sequences.md)")
    g.add_argument("--chunk", type=int, default=None, help="frames per chunk: reconstruct chunk by chunk")
    g.add_argument("--overlap", type=int, default=None, help="frames shared by consecutive chunks [chunk/4]")
    g.add_argument("--max-memory", type=float, default=None, help="GB per chunk; chunks are sized to fit [device]")
    g.add_argument("--loop-closure", action="store_true", help="detect revisits and close loops (chunked)")
    g.add_argument("--merge-tokens", type=float, default=0.0, help="token merging ratio in global attention [0]")
    g.add_argument("--stride", type=int, default=1, help="chunked: every n-th frame of the video or folder [1]")


def _chunked_requested(args: argparse.Namespace) -> bool:
    return args.chunk is not None or args.max_memory is not None or args.loop_closure or bool(args.merge_tokens)


def run_reconstruct(args: argparse.Namespace) -> int:
    _set_threads(args.threads)
    if _chunked_requested(args) or too_many_for_one_pass(args):
        return run_chunked_cli(args)
    check_output_dir(args.out, args.overwrite)
    ba_options = replace(
        BAOptions(),
        query_frames=args.query_frames,
        points_per_frame=args.points_per_frame,
        max_reproj_error=args.max_reproj_error,
    )
    options = ReconstructOptions(
        mode=args.mode, size=args.size, device=args.device, dtype=args.dtype, conf_threshold=args.conf_threshold,
        use_point_map=args.use_point_map, cameras=args.cameras, ba=args.ba, ba_options=ba_options,
        shared_camera=args.shared_camera,
        camera_model=args.camera_model, fps=args.fps, max_frames=args.max_frames,
        solve_options=SolveOptions(focal=args.focal),
    )  # fmt: skip
    with _terminate_as_interrupt():
        rec = reconstruct(args.inputs, weights=args.weights, options=options, reference=args.reference)
        out = rec.save(args.out, overwrite=args.overwrite, copy_images=not args.no_images)
    print(f"reconstructed {len(rec.names)} images -> {out}")
    if rec.ba is not None:
        print(f"bundle adjustment: reprojection error {rec.ba.error_before:.3f} -> {rec.ba.error_after:.3f} px")
    elif rec.ba_skipped:
        print(f"bundle adjustment skipped: {rec.ba_skipped}")
    if rec.camera_solve is not None:
        c = rec.camera_solve
        focal = f"{c.focal_source} focal length {c.intrinsics[0, 0, 0]:.0f} px"
        print(f"cameras from matches: {int(c.solved.sum())} of {len(c.solved)} frames, {focal}")
    if rec.reference:
        r = rec.reference
        print(f"cameras vs reference: AUC@30 {r['auc30']:.1f}, AUC@15 {r['auc15']:.1f}, AUC@5 {r['auc5']:.1f}")
    print("timings:")
    print(format_timings(rec.timings))
    print(f"report: {out / 'report.html'}")
    sys.stdout.flush()
    return 0


def run_track(args: argparse.Namespace) -> int:
    check_output_dir(args.out, args.overwrite)
    _set_threads(args.threads)
    with _terminate_as_interrupt():
        result = track_points(
            args.inputs, args.queries, weights=args.weights, device=args.device, dtype=args.dtype,
            mode=args.mode, size=args.size, iters=args.iters, fps=args.fps, max_frames=args.max_frames,
        )  # fmt: skip
        out = result.save(args.out, overwrite=args.overwrite)
    print(f"tracked {result.xy.shape[1]} points through {len(result.names)} frames -> {out}")
    print("timings:")
    print(format_timings(result.timings))
    return 0


def run_export(args: argparse.Namespace) -> int:
    saved = load_run(args.folder)
    out = args.out or args.folder
    check_output_dir(out, args.overwrite)
    overrides = _given(conf_threshold=args.conf_threshold, use_point_map=args.use_point_map, max_points=args.max_points)
    if args.no_ba:
        overrides["ba"] = False
    with _terminate_as_interrupt():
        rec = export(saved, **overrides)
        folder = rec.save(out, overwrite=args.overwrite, copy_images=not args.no_images)
    print(f"exported {len(rec.names)} images, {len(rec.points)} points -> {folder}")
    return 0


def run_ba(args: argparse.Namespace) -> int:
    saved = load_run(args.folder)
    out = args.out or args.folder
    check_output_dir(out, args.overwrite)
    with _terminate_as_interrupt():
        ba_options = replace(
            saved.options.ba_options,
            **_given(
                query_frames=args.query_frames,
                points_per_frame=args.points_per_frame,
                max_reproj_error=args.max_reproj_error,
            ),
        )
        overrides = _given(shared_camera=args.shared_camera, camera_model=args.camera_model)
        rec = rebundle(args.folder, ba_options, weights=args.weights, device=args.device, dtype=args.dtype, **overrides)
        folder = rec.save(out, overwrite=args.overwrite, copy_images=not args.no_images)
    if rec.ba is not None:
        print(f"bundle adjustment: reprojection error {rec.ba.error_before:.3f} -> {rec.ba.error_after:.3f} px")
    else:
        print(f"bundle adjustment skipped: {rec.ba_skipped}")
    print(f"wrote {folder}")
    return 0
