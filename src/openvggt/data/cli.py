"""``openvggt synth``: write synthetic scenes to disk.

The project CLI registers it with :func:`add_synth_parser`; ``python -m openvggt.data.cli synth ...``
runs it on its own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from openvggt.data.synth.families import FAMILIES
from openvggt.data.synth.synthetic import SynthConfig, generate

log = logging.getLogger(__name__)


def add_synth_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand to an ``argparse`` subparsers object; returns its parser."""

    p = subparsers.add_parser(
        "synth",
        help="generate synthetic multi-view scenes with exact depth and cameras",
        description="Write OUT_DIR/<scene>/{images/NNNN.png, depth/NNNN.npy, cameras.json}. "
        "Scene i of a seed is always the same; existing complete scenes are skipped. "
        "Held-out split by convention: --seed 1000000 is the test set, 1000001 validation.",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--scenes", type=int, default=10, help="number of scenes (default 10)")
    p.add_argument("--frames", type=int, default=8, help="frames per scene (default 8)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--size", type=int, default=256, help="longer image side in pixels (default 256)")
    p.add_argument("--family", choices=[*FAMILIES, "mixed"], default="mixed", help="scene family (default mixed)")
    p.add_argument("--start", type=int, default=0, help="index of the first scene (default 0)")
    p.add_argument("--samples", type=int, choices=[1, 5, 9], default=5, help="rays per pixel (default 5)")
    p.add_argument("--no-photometric", action="store_true", help="same exposure/white balance in every frame")
    p.add_argument("--workers", type=int, default=1, help="processes to render with (default 1)")
    p.add_argument("--overwrite", action="store_true", help="re-render scenes that already exist")
    p.set_defaults(func=run_synth)
    return p


def _config(args):

    return SynthConfig(
        num_frames=args.frames,
        size=args.size,
        family=None if args.family == "mixed" else args.family,
        samples=args.samples,
        photometric=not args.no_photometric,
    )


def _run_chunk(out_dir: Path, start: int, count: int, seed: int, config, overwrite: bool) -> int:

    return len(generate(out_dir, count, seed, config, overwrite=overwrite, start=start))


def run_synth(args: argparse.Namespace) -> int:
    """Run ``openvggt synth`` from parsed arguments; returns the process exit code."""
    if args.scenes < 1 or args.frames < 1 or args.size < 16 or args.workers < 1:
        log.error("--scenes, --frames and --workers must be >= 1 and --size >= 16")
        return 2
    try:
        config = _config(args)
    except ValueError as e:
        log.error("%s", e)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.workers == 1:
        done = _run_chunk(args.out_dir, args.start, args.scenes, args.seed, config, args.overwrite)
    else:
        chunks = [(args.start + i, 1) for i in range(args.scenes)]
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [
                pool.submit(_run_chunk, args.out_dir, s, n, args.seed, config, args.overwrite) for s, n in chunks
            ]
            done = sum(f.result() for f in futures)
    dt = time.perf_counter() - t0
    log.info(
        "%d scenes x %d frames in %s (%.1f s, %.1f frames/s)",
        done,
        args.frames,
        args.out_dir,
        dt,
        done * args.frames / max(dt, 1e-9),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openvggt.data.cli")
    add_synth_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
