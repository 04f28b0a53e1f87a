"""What the model diagnostics in this folder share: their command line and the fresh scenes they read."""

from __future__ import annotations

import argparse

import torch

from openvggt.data.dataset import SceneDataset, scene_folders
from openvggt.data.sample import SampleConfig


def parse(  # noqa: ANN201
    doc: str,
    argv: list[str] | None,
    *,
    frames: int | None = 8,
    scenes: int = 4,
    tracks: int | None = None,
    size: int = 168,
    flags: tuple[tuple[str, str], ...] = (),
):
    """``WEIGHTS SCENES_ROOT [--size] [--frames] [--scenes] [--tracks] [--threads]``; sets the torch threads."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights")
    p.add_argument("root")
    p.add_argument("--size", type=int, default=size)
    if frames is not None:
        p.add_argument("--frames", type=int, default=frames)
    p.add_argument("--scenes", type=int, default=scenes)
    if tracks is not None:
        p.add_argument("--tracks", type=int, default=tracks)
    p.add_argument("--threads", type=int, default=1)
    for flag, help_text in flags:
        p.add_argument(flag, action="store_true", help=help_text)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def scenes(args: argparse.Namespace, frames: int, track_num: int = 0) -> SceneDataset:
    """The first ``--scenes`` scenes of ``root``, ``frames`` frames each at ``--size``, un-augmented."""
    cfg = SampleConfig(
        img_size=args.size,
        min_height=args.size,
        min_frames=frames,
        max_frames=frames,
        augment=False,
        track_num=track_num,
    )
    return SceneDataset(scene_folders(args.root)[: args.scenes], cfg)
