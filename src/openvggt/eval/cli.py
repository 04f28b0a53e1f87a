"""``openvggt eval``: run VGGT and/or COLMAP on scenes with reference cameras and score them.

The project CLI registers it through :func:`add_parser`. Examples::

    openvggt eval --suite real --method colmap --method colmap-global --json r.json --md r.md --plots plots/
    openvggt eval path/to/scene --method vggt --weights model.safetensors --json out.json

Every scene is read (and checked) before any method runs, so a bad path fails in a second with a
one-line error rather than after an hour of computing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from openvggt.data.readers import read_scene
from openvggt.data.scene import SceneError
from openvggt.errors import UserError
from openvggt.eval.chunked_method import ChunkedVggtMethod
from openvggt.eval.colmap_baseline import ColmapOptions
from openvggt.eval.report import markdown_table, plot_results, write_json, write_markdown
from openvggt.eval.runner import ColmapMethod, EvalOptions, evaluate
from openvggt.eval.suites import suite_scenes
from openvggt.eval.vggt_method import VggtMethod, VggtOptions
from openvggt.pipeline.chunked import ChunkedOptions
from openvggt.runtime import DTYPE_NAMES

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run_eval"]


def add_parser(subparsers) -> argparse.ArgumentParser:  # noqa: ANN001
    """Add the ``eval`` subcommand to an ``argparse`` subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "eval",
        help="accuracy of VGGT / COLMAP on scenes with reference cameras (JSON, markdown, plots)",
        description="Run methods on scene folders (cameras.json layout; depth/NNNN.npy optional) and report "
        "camera AUC@30/5/3, RRA/RTA@15, time, and depth/point-cloud metrics where reference depth exists.",
    )
    p.add_argument("scenes", nargs="*", type=Path, metavar="SCENE", help="scene folders")
    p.add_argument("--suite", action="append", choices=["real", "synthetic-test"], default=[], help="named suite(s)")
    p.add_argument(
        "--method",
        action="append",
        choices=["vggt", "vggt-chunked", "colmap", "colmap-global"],
        default=None,
        help="method(s) to run, repeatable [vggt]; colmap-global: COLMAP with the global mapper; vggt-chunked: "
        "long sequences chunk by chunk (--chunk, --overlap, --loop-closure, --merge-tokens)",
    )
    p.add_argument("--chunk", type=int, default=32, help="vggt-chunked: frames per chunk [32]")
    p.add_argument("--overlap", type=int, default=8, help="vggt-chunked: frames shared by chunks [8]")
    p.add_argument("--loop-closure", action="store_true", help="vggt-chunked: close loops")
    p.add_argument("--merge-tokens", type=float, default=0.0, help="vggt-chunked: token merging ratio [0]")
    p.add_argument("--weights", default="default", help="VGGT weights: file, folder, hub id or 'default' [default]")
    p.add_argument("--ba", action="store_true", help="VGGT with bundle adjustment (as `openvggt reconstruct --ba`)")
    p.add_argument(
        "--cameras", default="auto", choices=["auto", "head", "matches"],
        help="VGGT cameras, as `openvggt reconstruct --cameras` [auto: matches with the shipped model, else head]",
    )  # fmt: skip
    p.add_argument("--dtype", choices=DTYPE_NAMES, default="auto", help="VGGT precision [auto: the fastest accurate]")
    p.add_argument("--device", default="auto", help="VGGT device: auto (CUDA if available), cpu, cuda [auto]")
    p.add_argument("--size", type=int, default=None, help="VGGT input width, a multiple of 14 [model's, 518]")
    p.add_argument("--threads", type=int, default=-1, help="COLMAP threads (-1: all cores) [-1]")
    p.add_argument("--json", required=True, type=Path, metavar="OUT", help="write the results JSON here")
    p.add_argument("--md", type=Path, default=None, metavar="OUT", help="write a markdown table here")
    p.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write DIR/eval.png")
    p.add_argument("--scenes-root", type=Path, default=None, help="folder of the real suite [../shared/scenes]")
    p.add_argument("--synthetic-scenes", type=int, default=8, help="scenes in the synthetic-test suite [8]")
    p.add_argument("--cache", type=Path, default=None, help="where synthetic-test scenes are rendered")
    p.add_argument("--repeat", type=int, default=1, help="runs per scene and method; the median-AUC run is kept [1]")
    p.add_argument("--work-dir", type=Path, default=None, help="scratch folder for COLMAP [system temp]")
    p.set_defaults(func=run_eval)
    return p


def _user_error(message: str) -> Exception:

    return UserError(message)


def _scene_dirs(args: argparse.Namespace) -> list[Path]:

    dirs: list[Path] = []
    for suite in args.suite:
        try:
            dirs += suite_scenes(suite, args.scenes_root, args.cache, args.synthetic_scenes)
        except (FileNotFoundError, ValueError) as e:
            raise _user_error(f"suite {suite}: {e}") from None
    dirs += list(args.scenes)
    if not dirs:
        raise _user_error("no scenes: give scene folders or --suite real|synthetic-test")
    for d in dirs:
        try:
            scene = read_scene(d)
        except SceneError as e:
            raise _user_error(str(e)) from None
        if scene.num_frames < 2:
            raise _user_error(f"{d}: camera metrics need at least 2 frames, the scene has {scene.num_frames}")
    return list(dict.fromkeys(dirs))


def _methods(args: argparse.Namespace) -> list:
    methods = []
    for name in dict.fromkeys(args.method or ["vggt"]):
        if name.startswith("colmap"):
            try:
                import pycolmap  # noqa: F401, PLC0415
            except ImportError:
                raise _user_error("--method colmap needs pycolmap: pip install 'openvggt[recon]'") from None

            mapper = "global" if name == "colmap-global" else "incremental"
            methods.append(ColmapMethod(ColmapOptions(mapper=mapper, num_threads=args.threads)))
        elif name == "vggt-chunked":
            methods.append(_chunked_method(args))
        else:
            methods.append(_vggt_method(args))
    return methods


def _chunked_method(args: argparse.Namespace) -> ChunkedVggtMethod:
    options = ChunkedOptions(
        chunk=args.chunk,
        overlap=args.overlap,
        loop_closure=args.loop_closure,
        merge_tokens=args.merge_tokens,
        device=args.device,
        dtype=args.dtype,
        size=args.size,
    )
    return ChunkedVggtMethod(options, args.weights)


def _vggt_method(args: argparse.Namespace) -> VggtMethod:
    try:
        options = VggtOptions(
            weights=args.weights, ba=args.ba, device=args.device, dtype=args.dtype, size=args.size,
            cameras=args.cameras,
        )  # fmt: skip
    except ValueError as e:
        raise _user_error(str(e)) from None
    method = VggtMethod(options)
    method.predictor  # noqa: B018 (load the weights now: a bad --weights fails before any scene runs)
    return method


def run_eval(args: argparse.Namespace) -> int:
    """Run ``openvggt eval`` from parsed arguments; returns the exit code."""

    if args.synthetic_scenes < 1 or args.repeat < 1:
        raise _user_error(f"--synthetic-scenes and --repeat must be >= 1, got {args.synthetic_scenes}, {args.repeat}")
    scenes = _scene_dirs(args)
    methods = _methods(args)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    report = evaluate(scenes, methods, EvalOptions(work_dir=args.work_dir, repeat=args.repeat))
    print(markdown_table(report), end="")
    print(f"wrote {write_json(report, args.json)}")
    if args.md:
        print(f"wrote {write_markdown(report, args.md)}")
    if args.plots:
        print(f"wrote {plot_results(report, args.plots)}")
    return 0
