"""What the model diagnostics in this folder share: their command lines, the fresh scenes they read and how they
average the evaluation's camera scores."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from openvggt.data.dataset import SceneDataset, scene_folders
from openvggt.data.sample import SampleConfig

CAMERA_KEYS = ("auc30", "rra15", "rta15")


def mean_camera_metrics(rows: list[dict]) -> dict[str, float]:
    """Mean over scenes of AUC@30 / RRA@15 / RTA@15 (``rows``: one :func:`~openvggt.metrics.camera_metrics` each)."""
    return {k: float(np.mean([r[k] for r in rows])) for k in CAMERA_KEYS}


def print_camera_table(
    args: argparse.Namespace,
    count: int,
    seconds: float,
    first: str,
    rows: dict[str, list[dict]],
    extra: tuple[str, dict[str, str]] | None = None,
) -> None:
    """What was run, then one markdown row per solver: ``first`` names the first column, ``rows`` maps a solver to
    its per-scene :func:`~openvggt.metrics.camera_metrics`, ``extra`` = (title, text per solver) an optional second
    column."""
    print(f"{args.weights}: {count} scenes x {args.frames} frames of {args.root} at {args.size} px, {seconds:.0f} s")
    head = f"| {first} |" + (f" {extra[0]} |" if extra else "")
    print(head + " AUC@30 | RRA@15 | RTA@15 |")
    print("|---|" + ("---:|" if extra else "") + "---:|---:|---:|")
    for name, r in rows.items():
        m = mean_camera_metrics(r)
        cell = f" {extra[1][name]} |" if extra else ""
        print(f"| {name} |{cell} {m['auc30']:.1f} | {m['rra15']:.1f} | {m['rta15']:.1f} |")


def optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One step of a probe's training loop on ``loss``; returns its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def probe_parser(doc: str, minutes: float) -> argparse.ArgumentParser:
    """``TRAIN_ROOT HELDOUT_ROOT [--scenes] [--heldout] [--size] [--minutes] [--batch] [--threads]``: the command
    line of the probes that train a small network on some scenes and score it on held-out ones."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_root")
    p.add_argument("heldout_root")
    p.add_argument("--scenes", type=int, default=2000)
    p.add_argument("--heldout", type=int, default=40)
    p.add_argument("--size", type=int, default=168)
    p.add_argument("--minutes", type=float, default=minutes)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    return p


def parse(  # noqa: ANN201
    doc: str,
    argv: list[str] | None,
    *,
    frames: int | None = 8,
    scenes: int = 4,
    tracks: int | None = None,
    size: int = 168,
    flags: tuple[tuple[str, str], ...] = (),
    numbers: tuple[tuple[str, int, str], ...] = (),
):
    """``WEIGHTS SCENES_ROOT [--size] [--frames] [--scenes] [--tracks] [--threads]``, the ``flags`` (on/off) and the
    integer options ``numbers`` (flag, default, help); sets the torch threads."""
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
    for flag, default, help_text in numbers:
        p.add_argument(flag, type=int, default=default, help=help_text)
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


def load_scenes(root: str, count: int, size: int, families: tuple[str, ...] = (), depth: bool = False) -> dict:
    """The first ``count`` scenes of ``families`` under ``root`` (folder names end in ``_<family>``; all when empty),
    8 frames each at ``size``, held in memory: uint8 ``images [N, 8, 3, H, W]``, normalised ``ext [N, 8, 3, 4]``
    and ``intr [N, 8, 3, 3]``, and with ``depth`` the GT depth ``[N, 8, H, W]`` (0 where there is none)."""
    cfg = SampleConfig(img_size=size, min_height=size, min_frames=8, max_frames=8, augment=False)
    folders = [f for f in scene_folders(root) if not families or f.name.rsplit("_", 1)[-1] in families]
    if not folders:
        raise SystemExit(f"{root}: no scenes of the families {', '.join(families)}")
    ds = SceneDataset(folders[:count], cfg)
    out: dict[str, list] = {"images": [], "ext": [], "intr": []} | ({"depth": []} if depth else {})
    for i in range(len(ds)):
        s = ds[i]
        out["images"].append((s["images"] * 255).round().to(torch.uint8))
        out["ext"].append(s["extrinsics"].float())
        out["intr"].append(s["intrinsics"].float())
        if depth:
            out["depth"].append(torch.where(s["point_masks"], s["depths"], 0.0).float())
    return {k: torch.stack(v) for k, v in out.items()}
