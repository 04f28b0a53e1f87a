"""How fast does relative pose become learnable when two frames are stacked at the input (early fusion)?

    python benchmarks/pose_cnn.py TRAIN_ROOT HELDOUT_ROOT [--scenes 2000] [--heldout 40] [--minutes 20]
        [--threads 2] [--width 32] [--eval-every-s 300] [--save W.pt]

The trunk of the small models has not learnt to match frames in the CPU budgets of training_study.md §8-13: the
camera head stays at the dataset's mean pose. This probe asks whether the same data teach relative pose quickly to a
network that sees the two frames *stacked* (6 input channels), so that a convolution compares them at the same place
from the first layer on (the design of the pose networks of self-supervised depth, e.g. SfMLearner's and
Monodepth2's, here supervised by the engine's exact cameras). A plain convolutional encoder (stride 2 per layer,
global average pool) maps (frame s, reference frame) to the 9-d pose encoding of frame s relative to the reference
(translation, quaternion, field of view), L1 loss, AdamW, bf16 autocast where the CPU has native bf16.

Training pairs: any two frames of a training scene (either may be the reference), with one random brightness and
contrast for both frames (no flips: the pose would have to be mirrored with them). Scored
like the evaluation: every held-out scene's 8 frames predicted against frame 0, then AUC@30 / RRA@15 / RTA@15 of all
pairs, against the identity, printed as a learning curve (frames seen = 2 per pair).
"""

from __future__ import annotations

import sys
import time

import _diagnostics
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from openvggt.geometry.pose_encoding import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from openvggt.geometry.se3 import closed_form_inverse_se3
from openvggt.metrics.camera import camera_metrics
from openvggt.runtime import resolve_dtype


class PairPoseNet(nn.Module):
    """Conv encoder of a stacked frame pair -> pose encoding ``[B, 9]`` of the first frame relative to the second."""

    def __init__(self, width: int = 32):
        super().__init__()
        chans = [6, width, 2 * width, 4 * width, 8 * width, 8 * width, 8 * width]
        kernels = [7, 5, 3, 3, 3, 3]
        layers: list[nn.Module] = []
        for c_in, c_out, k in zip(chans[:-1], chans[1:], kernels, strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2),
                nn.GroupNorm(8, c_out),
                nn.ReLU(inplace=True),
            ]
        self.encoder = nn.Sequential(*layers)
        self.out = nn.Linear(chans[-1], 9)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(torch.tensor([0, 0, 0, 0, 0, 0, 1, 1.0, 1.0]))  # identity pose, ~53 deg FoV

    def forward(self, frame: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        x = torch.cat([frame, ref], 1) * 2 - 1
        return self.out(self.encoder(x).mean((-1, -2)).float())


def load(root: str, count: int, size: int, families: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Scenes as uint8 images, normalised extrinsics and intrinsics (:func:`_diagnostics.load_scenes`)."""
    return _diagnostics.load_scenes(root, count, size, families)


def relative(ext: torch.Tensor, s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Extrinsics of frame ``s`` with frame ``r``'s camera as the world, ``[B, 3, 4]``."""
    to_world = closed_form_inverse_se3(ext[r])  # [B, 4, 4] camera r -> world
    return (ext[s] @ to_world)[:, :3]  # [B, 3, 4] (3x4 @ 4x4)


def jitter(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random gain and offset per pair (``x [B, 3, H, W]``), applied alike to both of its frames."""
    b = x.shape[0]
    gain = 0.8 + 0.4 * torch.rand(b, 1, 1, 1, generator=g)
    bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    return gain, bias


def evaluate(model: PairPoseNet, held: dict, dtype: torch.dtype | None) -> dict[str, float]:
    size = held["images"].shape[-2:]
    rows = []
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        for k in range(len(held["images"])):
            im = held["images"][k].float() / 255
            enc = model(im, im[:1].expand_as(im))  # [8, 9], frame 0 against itself too
            pred, _ = pose_encoding_to_extri_intri(enc[None].float(), image_size_hw=tuple(size))
            pred = pred[0].double().numpy()
            pred[0] = np.eye(3, 4)
            rows.append(camera_metrics(pred, held["ext"][k].double().numpy()))
    model.train()
    return _diagnostics.mean_camera_metrics(rows)


def main(argv: list[str] | None = None) -> int:
    p = _diagnostics.probe_parser(__doc__, minutes=20.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--eval-every-s", type=float, default=300.0)
    p.add_argument("--save", help="write the trained network's state dict here")
    p.add_argument("--families", default="", help="comma-separated families to train and score on [all]")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if resolve_dtype("auto", torch.device("cpu")) == "bf16" else None
    t0 = time.perf_counter()
    fams = tuple(f for f in args.families.split(",") if f)
    train = load(args.train_root, args.scenes, args.size, fams)
    held = load(args.heldout_root, args.heldout, args.size, fams)
    n, s = train["images"].shape[:2]
    precision = "bf16 autocast" if dtype else "fp32"
    print(f"{n} training scenes x {s} frames, {len(held['images'])} held-out scenes; loaded in "
          f"{time.perf_counter() - t0:.0f} s; precision {precision}", flush=True)  # fmt: skip
    ident = np.mean(
        [camera_metrics(np.tile(np.eye(3, 4), (s, 1, 1)), e.double().numpy())["auc30"] for e in held["ext"]]
    )
    print(f"identity: AUC@30 {ident:.1f}")
    print("| minutes | steps | frames seen | train loss | AUC@30 | RRA@15 | RTA@15 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = PairPoseNet(args.width).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    hw = tuple(train["images"].shape[-2:])
    steps, losses, start, last_eval = 0, [], time.perf_counter(), time.perf_counter()
    budget = args.minutes * 60

    def report(elapsed: float) -> None:
        m = evaluate(model, held, dtype)
        loss = np.mean(losses[-50:]) if losses else float("nan")
        print(f"| {elapsed / 60:.1f} | {steps} | {2 * steps * args.batch:,} | {loss:.4f} | {m['auc30']:.1f} | "
              f"{m['rra15']:.1f} | {m['rta15']:.1f} |", flush=True)  # fmt: skip

    report(0.0)
    while time.perf_counter() - start < budget:
        idx = torch.randint(n, (args.batch,), generator=g)
        si, ri = torch.randint(s, (args.batch,), generator=g), torch.randint(s, (args.batch,), generator=g)
        frame = train["images"][idx, si].float() / 255
        ref = train["images"][idx, ri].float() / 255
        gain, bias = jitter(frame, g)
        frame, ref = (frame * gain + bias).clamp(0, 1), (ref * gain + bias).clamp(0, 1)
        ext = train["ext"][idx]  # [B, S, 3, 4]
        b = torch.arange(args.batch)
        rel = relative(ext[b].reshape(-1, 3, 4), b * s + si, b * s + ri)
        target = extri_intri_to_pose_encoding(rel[None], train["intr"][idx, si][None], hw)[0]
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            pred = model(
                frame.contiguous(memory_format=torch.channels_last), ref.contiguous(memory_format=torch.channels_last)
            )
        loss = F.l1_loss(pred.float(), target.float())
        losses.append(_diagnostics.optimiser_step(opt, loss))
        steps += 1
        if time.perf_counter() - last_eval >= args.eval_every_s:
            report(time.perf_counter() - start)
            last_eval = time.perf_counter()
    report(time.perf_counter() - start)
    if args.save:
        torch.save(model.state_dict(), args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
