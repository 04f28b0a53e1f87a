"""``openvggt demo``: run the shipped default model on the bundled example images.

Prints the predicted cameras and writes depth maps. When the reconstruction pipeline is installed,
the demo runs the full ``reconstruct`` job instead and points at its report.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parent / "assets" / "examples"


def example_images() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the default model on the bundled example images")
    p.add_argument("--weights", default="default", help="weights file, folder or hub id [shipped model]")
    p.add_argument("--out", default="outputs/demo", help="output folder [outputs/demo]")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from openvggt.pipeline.reconstruct import reconstruct_cli_demo
    except ImportError:
        return _run_model_only(args)
    return reconstruct_cli_demo(example_images(), args)


def _run_model_only(args: argparse.Namespace) -> int:
    import torch

    from openvggt.geometry import pose_encoding_to_extri_intri
    from openvggt.io.checkpoint import load_model
    from openvggt.io.images import load_images

    paths = example_images()
    model = load_model(args.weights, device=args.device, heads=("camera", "depth"))
    images = load_images(paths, mode="crop", size=model.config.img_size).to(args.device)
    with torch.inference_mode():
        out = model(images)
    h, w = images.shape[-2:]
    extrinsics, intrinsics = pose_encoding_to_extri_intri(out.pose_enc, (h, w))
    out_dir = Path(args.out)
    (out_dir / "depth").mkdir(parents=True, exist_ok=True)
    print(
        f"{len(paths)} images at {w}x{h}; predicted cameras (world = first camera, OpenCV, world-to-camera):"
    )
    for i, path in enumerate(paths):
        e, k = extrinsics[0, i].cpu().numpy(), intrinsics[0, i].cpu().numpy()
        centre = -e[:, :3].T @ e[:, 3]
        angle = np.degrees(np.arccos(np.clip((np.trace(e[:, :3]) - 1) / 2, -1, 1)))
        print(
            f"  {path.name}: rotation {angle:6.2f} deg from frame 0, centre "
            f"({centre[0]:+.3f}, {centre[1]:+.3f}, {centre[2]:+.3f}), fx {k[0, 0]:.1f} fy {k[1, 1]:.1f}"
        )
        depth = out.depth[0, i, ..., 0].float().cpu().numpy()
        np.save(out_dir / "depth" / f"{path.stem}.npy", depth)
        _save_depth_png(depth, out_dir / "depth" / f"{path.stem}.png")
    print(f"depth maps (npy float32 + colour png) written to {out_dir / 'depth'}")
    return 0


def _save_depth_png(depth: np.ndarray, path: Path) -> None:
    from PIL import Image

    lo, hi = np.percentile(depth, [2, 98])
    norm = np.clip((depth - lo) / max(hi - lo, 1e-9), 0, 1)
    Image.fromarray((255 * (1 - norm)).astype(np.uint8)).save(path)
