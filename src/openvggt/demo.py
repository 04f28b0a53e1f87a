"""``openvggt demo``: reconstruct the bundled example images with the shipped default model.

Runs the full ``reconstruct`` job (cameras, depth, point cloud, COLMAP model, report) and prints where the
results are.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from openvggt.pipeline.reconstruct import reconstruct
from openvggt.pipeline.timing import format_timings
from openvggt.runtime import DTYPE_NAMES

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parent / "assets" / "examples"


def example_images() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the default model on the bundled example images")
    p.add_argument("--weights", default="default", help="weights file, folder or hub id [shipped model]")
    p.add_argument("--out", default="outputs/demo", help="output folder [outputs/demo]")
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto [auto]")
    p.add_argument("--dtype", default="auto", choices=DTYPE_NAMES, help="precision [auto: fastest accurate]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = example_images()
    rec = reconstruct(paths, weights=args.weights, device=args.device, dtype=args.dtype)
    folder = rec.save(Path(args.out), overwrite=True)
    print(f"{len(paths)} images reconstructed; timings:")
    print(format_timings(rec.timings))
    print(f"results: {folder} (COLMAP model in sparse/0, points.ply, scene.glb, depth/, transforms.json)")
    print(f"report: {folder / 'report.html'}")
    return 0
