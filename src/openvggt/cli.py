"""The ``openvggt`` command: one entry point, one subcommand per job.

Errors a user can fix (bad paths, unreadable images, mismatched checkpoints) are printed as one line
on stderr with exit code 2; no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import openvggt.data.cli as data_cli
import openvggt.demo as demo
import openvggt.eval.cli as eval_cli
import openvggt.pipeline.cli as pipeline_cli
import openvggt.serve.cli as serve_cli
import openvggt.train.cli as train_cli
import openvggt.viz.cli as viz_cli
from openvggt._version import __version__
from openvggt.bench import format_table, run_bench, write_json
from openvggt.errors import UserError
from openvggt.io.checkpoint import convert_checkpoint
from openvggt.runtime import AUTOCAST_DTYPES, DTYPE_NAMES

log = logging.getLogger("openvggt")

Handler = Callable[[argparse.Namespace], int]


# Errors printed as one line (exit 2) rather than a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, NotADirectoryError)


# ---------------------------------------------------------------------------------------------- bench
def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time and peak memory of a forward pass against frame count")
    p.add_argument("--preset", default="vggt-1b", help="model preset (random weights) [vggt-1b]")
    p.add_argument("--weights", default=None, help="load these weights instead of random ones")
    p.add_argument("--frames", default="1,2", help="comma-separated frame counts [1,2]")
    p.add_argument("--size", default="294x518", help="HxW, multiples of 14 [294x518]")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPE_NAMES,
        help="precision; auto = the device's fastest accurate one (see openvggt.runtime) [auto]",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks (first call compiles)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps or auto [cpu]")
    p.add_argument("--heads", default="camera,depth,point", help="heads to run [camera,depth,point]")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    try:
        frames = [int(f) for f in args.frames.split(",")]
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--frames must be integers and --size HxW, got {args.frames!r} / {args.size!r}") from None
    if height % 14 or width % 14:
        raise UserError(f"--size {args.size}: height and width must be multiples of 14")
    heads = tuple(h for h in args.heads.split(",") if h)
    rows = run_bench(
        args.preset,
        frames,
        height,
        width,
        args.dtype,
        args.device,
        heads,
        args.repeat,
        args.warmup,
        args.weights,
        compile=args.compile,
    )
    print(format_table(rows))
    if args.json:
        path = write_json(rows, args.json, preset=args.preset, command=" ".join(sys.argv))
        print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------- convert
def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint (.pt/.pth/.safetensors/hub id) to .safetensors")
    p.add_argument("src", help="checkpoint file, folder or Hugging Face repo id")
    p.add_argument("dst", help="output .safetensors path")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default=None, help="store floats in this dtype")
    p.add_argument("--config", default=None, help="preset name if the checkpoint carries no config")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    dst = Path(args.dst)
    if dst.suffix != ".safetensors":
        raise UserError(f"output must end in .safetensors: {dst}")
    if dst.exists() and not args.overwrite:
        raise UserError(f"{dst} exists; pass --overwrite to replace it")
    out = convert_checkpoint(args.src, dst, AUTOCAST_DTYPES.get(args.dtype) if args.dtype else None, args.config)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


# ---------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openvggt", description="VGGT: images in, cameras/depth/points out.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _subcommands():
        add(sub)
    return parser


def _subcommands() -> list[Callable[[argparse._SubParsersAction], None]]:
    return [
        demo.add_parser,
        pipeline_cli.add_parsers,
        data_cli.add_synth_parser,
        train_cli.add_parser,
        eval_cli.add_parser,
        viz_cli.add_parser,
        serve_cli.add_parser,
        _add_bench,
        _add_convert,
    ]


def _version() -> str:
    return f"openvggt {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.debug:
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        # One line, whatever the message: multi-line reports are joined.
        msg = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
