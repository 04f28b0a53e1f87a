"""Can dense matching supervision teach correspondences in a CPU budget, where pose regression did not?

    python benchmarks/match_cnn.py TRAIN_ROOT HELDOUT_ROOT [--scenes 2000] [--heldout 40] [--minutes 15]
        [--threads 2] [--eval-every-s 180]

training_study.md §13 found that no learnt output of the small models carries matches, and §14 that regressing pose
from a stacked frame pair stays at the mean pose. Those runs get 9 numbers of supervision per pair; the engine also
gives every pixel's exact correspondence. This probe trains a small convolutional descriptor network (stride 4,
64-d unit descriptors) with that dense signal: for random frame pairs (r, s) of the training scenes, 256 pixels of
frame s with GT depth that are visible in frame r (depth test) are matched against every cell of frame r's
descriptor map, cross-entropy to the GT cell (scaled cosine similarity, temperature 0.05).

Scored on the held-out scenes like §13's solvers: a 12x12 grid of frame-s pixels, each matched to its best cell in
frame 0 (mutual best kept, refined by a soft-argmax over the 3x3 neighbourhood), then frame s's pose by PnP + RANSAC
(OpenCV) with frame 0's GT depth and GT intrinsics — so the row compares with §13's "SIFT matches, GT depth + GT
intrinsics" (33.2) and "exact matches, GT depth + GT intrinsics" (94.7). Also the share of grid points whose match
lands within 4 / 8 px of the truth (points visible in frame 0). ``--model WEIGHTS`` adds the same solve with that
model's predicted depth and intrinsics (§13's "SIFT matches, predicted depth + intrinsics": 15.9 with the shipped
model), what a pipeline of the model and this matcher would give. Both solves are also run as two-view
essential-matrix solves (``pose_solve.from_essential``, training_study.md §18), which need depth only for the length
of each translation: with GT intrinsics and depth, and with the model's depth and a focal length self-calibrated
from these matches (``focal_solve.focal_from_f``), the latter needing nothing the model does not give.
"""

from __future__ import annotations

import sys
import time

import _diagnostics
import numpy as np
import pose_solve
import torch
from focal_solve import centred_k, focal_from_f
from torch import nn
from torch.nn import functional as F

from openvggt.geometry.pose_encoding import pose_encoding_to_extri_intri
from openvggt.geometry.se3 import closed_form_inverse_se3
from openvggt.io.checkpoint import load_model
from openvggt.metrics.camera import camera_metrics
from openvggt.runtime import resolve_dtype

STRIDE = 4
TEMPERATURE = 0.05


class Descriptors(nn.Module):
    """Image ``[B, 3, H, W]`` -> unit descriptors ``[B, dim, H/4, W/4]``."""

    def __init__(self, width: int = 32, dim: int = 64):
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(3, width, 2), *block(width, width, 1), *block(width, 2 * width, 2),
            *block(2 * width, 2 * width, 1), *block(2 * width, 4 * width, 1), *block(4 * width, 4 * width, 1),
        )  # fmt: skip
        self.out = nn.Conv2d(4 * width, dim, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.out(self.body(image * 2 - 1)).float(), dim=1)


def load(root: str, count: int, size: int) -> dict[str, torch.Tensor]:
    """Scenes: uint8 images, GT depth (0 where none), cameras (:func:`_diagnostics.load_scenes`)."""
    return _diagnostics.load_scenes(root, count, size, depth=True)


def correspond(depth_s, depth_r, ext_s, ext_r, intr_s, intr_r, uv):  # noqa: ANN001, ANN201
    """Pixels ``uv [B, M, 2]`` of frame s -> their position in frame r ``[B, M, 2]`` and whether they are seen there
    (GT depth at both ends, inside frame r, depth test 5 %). Batched over pairs."""
    b, m, _ = uv.shape
    h, w = depth_s.shape[-2:]
    cols, rows = uv[..., 0].round().long().clamp(0, w - 1), uv[..., 1].round().long().clamp(0, h - 1)
    d = depth_s[torch.arange(b)[:, None], rows, cols]  # [B, M]
    rays = torch.cat([uv, torch.ones(b, m, 1)], -1) @ torch.linalg.inv(intr_s).transpose(1, 2)
    cam_s = rays * d[..., None]
    to_world = closed_form_inverse_se3(ext_s)  # [B, 4, 4]
    world = cam_s @ to_world[:, :3, :3].transpose(1, 2) + to_world[:, None, :3, 3]
    cam_r = world @ ext_r[:, :, :3].transpose(1, 2) + ext_r[:, None, :, 3]
    proj = cam_r @ intr_r.transpose(1, 2)
    xy = proj[..., :2] / proj[..., 2:].clamp_min(1e-9)
    x, y = xy[..., 0], xy[..., 1]
    inside = (cam_r[..., 2] > 1e-6) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    cr, rr = xy[..., 0].round().long().clamp(0, w - 1), xy[..., 1].round().long().clamp(0, h - 1)
    dr = depth_r[torch.arange(b)[:, None], rr, cr]
    seen = (d > 0) & inside & (dr > 0) & ((dr - cam_r[..., 2]).abs() < 0.05 * cam_r[..., 2])
    return xy, seen


def sample_at(desc: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Descriptors ``[B, C, h, w]`` at pixels ``uv [B, M, 2]`` (bilinear between the cell centres of
    :func:`cell_centres`) -> ``[B, M, C]``."""
    h, w = desc.shape[-2:]
    half = (STRIDE - 1) / 2
    cells = (uv - half) / STRIDE  # [B, M, 2] in cells
    grid = torch.stack([cells[..., 0] / max(w - 1, 1), cells[..., 1] / max(h - 1, 1)], -1) * 2 - 1
    return F.grid_sample(desc, grid[:, :, None], align_corners=True, padding_mode="border")[..., 0].transpose(1, 2)


def cell_centres(h: int, w: int) -> torch.Tensor:
    """Pixel positions ``[h*w, 2]`` of the descriptor cells (stride 4), row-major."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    half = (STRIDE - 1) / 2
    return torch.stack([xs.flatten() * STRIDE + half, ys.flatten() * STRIDE + half], -1).float()


def match_grid(net: Descriptors, frame: torch.Tensor, ref: torch.Tensor, uv: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Grid pixels ``uv [M, 2]`` of ``frame`` matched into ``ref`` (both ``[3, H, W]``): positions ``[M, 2]`` and the
    mutual-best flag ``[M]``."""
    d = net(torch.stack([frame, ref]))  # [2, C, h, w]
    h, w = d.shape[-2:]
    q = sample_at(d[:1], uv[None])[0]  # [M, C]
    cells = d[1].flatten(1).T  # [h*w, C]
    sim = q @ cells.T  # [M, h*w]
    best = sim.argmax(1)
    back = (d[0].flatten(1).T @ cells[best].T).argmax(0)  # [M] the frame cell that each chosen ref cell likes best
    own = (uv[:, 1] / STRIDE).floor().long().clamp(0, h - 1) * w + (uv[:, 0] / STRIDE).floor().long().clamp(0, w - 1)
    mutual = back == own
    # sub-cell refinement: soft-argmax over the 3x3 cells around the best
    r0, c0 = best // w, best % w
    offs = torch.tensor([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    rr, cc = (r0[:, None] + offs[:, 0]).clamp(0, h - 1), (c0[:, None] + offs[:, 1]).clamp(0, w - 1)
    wts = torch.softmax(sim.gather(1, rr * w + cc) / TEMPERATURE, 1)
    centres = cell_centres(h, w)[rr * w + cc]  # [M, 9, 2]
    xy = (wts[..., None] * centres).sum(1)
    return xy.numpy().astype(np.float64), mutual.numpy()


def evaluate(net: Descriptors, held: dict, patch: int = 14) -> dict[str, float]:
    size = tuple(held["images"].shape[-2:])
    gy, gx = np.mgrid[0 : size[0] // patch, 0 : size[1] // patch]
    grid = np.c_[(gx.ravel() + 0.5) * patch, (gy.ravel() + 0.5) * patch]
    uv = torch.from_numpy(grid).float()
    rows, model_rows, ess_rows, model_ess_rows, near4, near8, count = [], [], [], [], 0, 0, 0
    net.eval()
    with torch.no_grad():
        for k in range(len(held["images"])):
            im = held["images"][k].float() / 255
            depth, ext, intr = held["depth"][k], held["ext"][k], held["intr"][k]
            s = len(im)
            uv0, ok = np.zeros((s, len(grid), 2)), np.zeros((s, len(grid)), bool)
            for i in range(1, s):
                uv0[i], ok[i] = match_grid(net, im[i], im[0], uv)
                pair = [(x[i : i + 1], x[:1]) for x in (depth, ext, intr)]
                truth, seen = correspond(*pair[0], *pair[1], *pair[2], uv[None])
                xy = uv0[i]
                err = np.linalg.norm(xy - truth[0].numpy(), axis=1)[seen[0].numpy()]
                near4, near8, count = near4 + int((err <= 4).sum()), near8 + int((err <= 8).sum()), count + len(err)
            uvs = np.broadcast_to(grid, uv0.shape)
            px = 0.02 * max(size)
            pred = pose_solve.from_matches(depth[0].double().numpy(), intr.double().numpy(), uv0, uvs, ok, px)
            gt_ext = ext.double().numpy()
            rows.append(camera_metrics(pred, gt_ext))
            # two views fix rotation and translation direction without depth (§18): 1 % of the side as threshold
            pred = pose_solve.from_essential(depth[0].double().numpy(), intr[0].double().numpy(), uv0, uvs, ok, px / 2)
            ess_rows.append(camera_metrics(pred, gt_ext))
            if "model_depth" in held:  # the same matches with a model's own depth and intrinsics
                d0, kk = held["model_depth"][k][0].double().numpy(), held["model_intr"][k].double().numpy()
                solved = pose_solve.from_matches(d0, kk, uv0, uvs, ok, px)
                model_rows.append(camera_metrics(solved, gt_ext))
                # a pipeline needing nothing but the model's depth: focal length self-calibrated from the matches
                pairs = {(0, i): (uv0[i][ok[i]], uvs[i][ok[i]]) for i in range(1, s) if ok[i].sum() >= 8}
                f = focal_from_f(pairs, size[1], size[0]) or float(kk[0, 0, 0])
                solved = pose_solve.from_essential(d0, centred_k(f, size[1], size[0]), uv0, uvs, ok, px / 2)
                model_ess_rows.append(camera_metrics(solved, gt_ext))
    net.train()
    out = _diagnostics.mean_camera_metrics(rows)
    out["ess_auc30"] = _diagnostics.mean_camera_metrics(ess_rows)["auc30"]
    if model_rows:
        out["model_auc30"] = _diagnostics.mean_camera_metrics(model_rows)["auc30"]
        out["model_ess_auc30"] = _diagnostics.mean_camera_metrics(model_ess_rows)["auc30"]
    out["within4"], out["within8"] = 100 * near4 / max(count, 1), 100 * near8 / max(count, 1)
    return out


def model_geometry(weights: str, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """A model's predicted depth ``[N, S, H, W]`` and intrinsics ``[N, S, 3, 3]`` on the held-out scenes."""
    model = load_model(weights).eval()
    depth, intr = [], []
    with torch.no_grad():
        for im in images:
            out = model(im.float() / 255, heads=["camera", "depth"])
            _, k = pose_encoding_to_extri_intri(out.pose_enc, image_size_hw=tuple(im.shape[-2:]))
            depth.append(out.depth[0, ..., 0].float())
            intr.append(k[0].float())
    return {"model_depth": torch.stack(depth), "model_intr": torch.stack(intr)}


def main(argv: list[str] | None = None) -> int:
    p = _diagnostics.probe_parser(__doc__, minutes=15.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--points", type=int, default=256, help="correspondences per training pair")
    p.add_argument("--eval-every-s", type=float, default=180.0)
    p.add_argument("--model", help="also solve with this model's predicted depth and intrinsics (e.g. the shipped one)")
    p.add_argument("--save", help="write the descriptor network's state dict here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    autocast = resolve_dtype("auto", torch.device("cpu")) == "bf16"
    t0 = time.perf_counter()
    train, held = load(args.train_root, args.scenes, args.size), load(args.heldout_root, args.heldout, args.size)
    if args.model:
        held.update(model_geometry(args.model, held["images"]))
    n, s, _, height, width = train["images"].shape
    precision = "bf16 autocast" if autocast else "fp32"
    print(f"{n} training scenes x {s} frames, {len(held['images'])} held-out scenes; loaded in "
          f"{time.perf_counter() - t0:.0f} s; {precision}", flush=True)  # fmt: skip
    extra = " AUC@30 PnP, model depth + intrinsics | AUC@30 essential, model depth + self-calibrated focal |"
    extra = extra if args.model else ""
    print("| minutes | steps | frames seen | train CE | within 4 px | within 8 px | AUC@30 | RRA@15 | RTA@15 |"
          " AUC@30 essential |" + extra)  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.model else ""))
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = Descriptors()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    steps, losses, start, last = 0, [], time.perf_counter(), time.perf_counter()

    def report() -> None:
        m = evaluate(net, held)
        loss = np.mean(losses[-50:]) if losses else float("nan")
        print(f"| {(time.perf_counter() - start) / 60:.1f} | {steps} | {2 * steps * args.batch:,} | {loss:.3f} | "
              f"{m['within4']:.1f} | {m['within8']:.1f} | {m['auc30']:.1f} | {m['rra15']:.1f} | {m['rta15']:.1f} | "
              f"{m['ess_auc30']:.1f} |"
              + (f" {m['model_auc30']:.1f} | {m['model_ess_auc30']:.1f} |" if "model_auc30" in m else ""),
              flush=True)  # fmt: skip

    report()
    b = args.batch
    while time.perf_counter() - start < args.minutes * 60:
        idx = torch.randint(n, (b,), generator=g)
        si, ri = torch.randint(s, (b,), generator=g), torch.randint(s, (b,), generator=g)
        uv = torch.rand(b, args.points, 2, generator=g) * torch.tensor([width - 1.0, height - 1.0])
        xy, seen = correspond(
            train["depth"][idx, si], train["depth"][idx, ri], train["ext"][idx, si], train["ext"][idx, ri],
            train["intr"][idx, si], train["intr"][idx, ri], uv,
        )  # fmt: skip
        if not seen.any():
            continue
        images = torch.cat([train["images"][idx, si], train["images"][idx, ri]]).float() / 255
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            d = net(images)
        ds, dr = d[:b], d[b:]
        h, w = d.shape[-2:]
        q = sample_at(ds, uv)  # [B, M, C]
        logits = q @ dr.flatten(2) / TEMPERATURE  # [B, M, h*w]
        col = (xy[..., 0] / STRIDE).floor().long().clamp(0, w - 1)
        row = (xy[..., 1] / STRIDE).floor().long().clamp(0, h - 1)
        loss = F.cross_entropy(logits[seen], (row * w + col)[seen])
        losses.append(_diagnostics.optimiser_step(opt, loss))
        steps += 1
        if time.perf_counter() - last >= args.eval_every_s:
            report()
            last = time.perf_counter()
    report()
    if args.save:
        torch.save(net.state_dict(), args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
