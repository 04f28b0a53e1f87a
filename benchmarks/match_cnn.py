"""Can dense matching supervision teach correspondences in a CPU budget, where pose regression did not?

    python benchmarks/match_cnn.py TRAIN_ROOT HELDOUT_ROOT [--scenes 2000] [--heldout 40] [--minutes 15]
        [--threads 2] [--eval-every-s 180] [--model WEIGHTS] [--fine-dim 32] [--grid-step 7] [--save PATH]

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

``--fine-dim N`` adds a sub-pixel stage (training_study.md §19): N-d unit descriptors at stride 2 from the body's
first stride-2 features and the coarse features brought back up; a query is compared with the 5x5 cells of frame r
around its coarse match and its position is the softmax expectation over those cells' centres (learnt temperature),
trained with a Huber loss in pixels against the exact correspondence (training queries at whole pixels, window
centres put up to 3 px off the truth as a coarse match would be). ``--grid-step`` sets the evaluation grid (14: the
12x12 of §15; 7: the 24x24 of §18). The table adds the share within 1 px and the median error of the matches
within 4 px (their precision).
"""

from __future__ import annotations

import math
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
FINE_STRIDE = 2
RADIUS = 2  # the fine stage looks at the (2 RADIUS + 1)^2 stride-2 cells around the coarse match
JITTER = 3.0  # training: how far (px) the fine window's centre is put from the truth, at most


class Descriptors(nn.Module):
    """Image ``[B, 3, H, W]`` -> unit descriptors ``[B, dim, H/4, W/4]``."""

    def __init__(self, width: int = 32, dim: int = 64, fine_dim: int = 0):
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(3, width, 2), *block(width, width, 1), *block(width, 2 * width, 2),
            *block(2 * width, 2 * width, 1), *block(2 * width, 4 * width, 1), *block(4 * width, 4 * width, 1),
        )  # fmt: skip
        self.out = nn.Conv2d(4 * width, dim, 1)
        self.fine_dim = fine_dim
        if fine_dim:  # a stride-2 stage: the body's first stride-2 features beside the coarse ones brought back up
            self.lift = nn.Conv2d(4 * width, 16, 1)
            self.fine = nn.Sequential(*block(width + 16, 32, 1), nn.Conv2d(32, fine_dim, 1))
            self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # the fine softmax's inverse temperature

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.features(image)[0]

    def features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Coarse unit descriptors at stride 4 and, with ``fine_dim``, fine ones ``[B, fine_dim, H/2, W/2]``."""
        early = self.body[:6](image * 2 - 1)  # the first two blocks: stride 2
        body = self.body[6:](early)
        coarse = F.normalize(self.out(body).float(), dim=1)
        if not self.fine_dim:
            return coarse, None
        up = F.interpolate(self.lift(body), size=early.shape[-2:], mode="bilinear", align_corners=False)
        return coarse, F.normalize(self.fine(torch.cat([early, up], 1)).float(), dim=1)


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


def refine(fine_s: torch.Tensor, fine_r: torch.Tensor, uv: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor):
    """Fine stage: query pixels ``uv [B, M, 2]`` of frame s (bilinear in ``fine_s [B, C, h, w]``, stride 2) against
    the window of frame r's cells around the one nearest to the pixel ``centre [B, M, 2]`` -> the softmax-expected
    pixel positions ``[B, M, 2]`` (between the cells' centres, so finer than a cell)."""
    b, c, h, w = fine_r.shape
    half = (FINE_STRIDE - 1) / 2
    cells = (uv - half) / FINE_STRIDE
    grid = torch.stack([cells[..., 0] / (w - 1), cells[..., 1] / (h - 1)], -1) * 2 - 1
    q = F.grid_sample(fine_s, grid[:, :, None], align_corners=True, padding_mode="border")[..., 0].transpose(1, 2)
    span = torch.arange(-RADIUS, RADIUS + 1)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    offs = torch.stack([dx.flatten(), dy.flatten()], -1)  # [K, 2]
    lo, hi = torch.tensor([RADIUS, RADIUS]), torch.tensor([w - 1 - RADIUS, h - 1 - RADIUS])
    mid = ((centre - half) / FINE_STRIDE).round().long().clamp(lo, hi)  # the window kept inside the image
    pos = mid[:, :, None] + offs  # [B, M, K, 2] cells
    m, k = pos.shape[1:3]
    idx = (pos[..., 1] * w + pos[..., 0]).reshape(b, 1, m * k).expand(b, c, m * k)
    window = fine_r.flatten(2).gather(2, idx).reshape(b, c, m, k)
    weights = torch.softmax(torch.einsum("bmc,bcmk->bmk", q, window) * scale.exp(), -1)
    return (weights[..., None] * (pos.float() * FINE_STRIDE + half)).sum(2)


def match_grid(net: Descriptors, frame: torch.Tensor, ref: torch.Tensor, uv: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Grid pixels ``uv [M, 2]`` of ``frame`` matched into ``ref`` (both ``[3, H, W]``): positions ``[M, 2]`` and the
    mutual-best flag ``[M]``."""
    d, fine = net.features(torch.stack([frame, ref]))  # [2, C, h, w]
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
    if fine is not None:
        xy = refine(fine[:1], fine[1:], uv[None], xy[None], net.log_scale)[0]
    return xy.numpy().astype(np.float64), mutual.numpy()


def evaluate(net: Descriptors, held: dict, patch: int = 14) -> dict[str, float]:
    """Grid points every ``patch`` pixels of each frame s matched into frame 0, scored and solved (module docstring)."""
    size = tuple(held["images"].shape[-2:])
    gy, gx = np.mgrid[0 : size[0] // patch, 0 : size[1] // patch]
    grid = np.floor(np.c_[(gx.ravel() + 0.5) * patch, (gy.ravel() + 0.5) * patch])  # whole pixels: GT depth is there
    uv = torch.from_numpy(grid).float()
    rows, model_rows, ess_rows, model_ess_rows, errors = [], [], [], [], []
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
                errors.append(err)
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
    err = np.concatenate(errors) if errors else np.zeros(0)
    for px in (1, 4, 8):
        out[f"within{px}"] = 100 * float((err <= px).mean()) if len(err) else 0.0
    # the precision of the good matches: median error of those within 4 px
    out["median_good"] = float(np.median(err[err <= 4])) if (err <= 4).any() else float("nan")
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
    p.add_argument("--fine-dim", type=int, default=0, help="add a stride-1 refinement stage of this width (0: none)")
    p.add_argument("--fine-weight", type=float, default=1.0, help="weight of the fine stage's Huber loss (px)")
    p.add_argument("--grid-step", type=int, default=14, help="evaluation grid spacing in pixels (14: 12x12 at 168)")
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
    print("| minutes | steps | frames seen | train loss | within 1 px | within 4 px | within 8 px |"
          " median error of those within 4 px | AUC@30 | RRA@15 | RTA@15 | AUC@30 essential |" + extra)  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.model else ""))
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = Descriptors(fine_dim=args.fine_dim).to(memory_format=torch.channels_last)  # oneDNN's faster layout
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    steps, losses, start, last = 0, [], time.perf_counter(), time.perf_counter()

    def report() -> None:
        m = evaluate(net, held, args.grid_step)
        loss = np.mean(losses[-50:]) if losses else float("nan")
        print(f"| {(time.perf_counter() - start) / 60:.1f} | {steps} | {2 * steps * args.batch:,} | {loss:.3f} | "
              f"{m['within1']:.1f} | {m['within4']:.1f} | {m['within8']:.1f} | {m['median_good']:.2f} | "
              f"{m['auc30']:.1f} | {m['rra15']:.1f} | {m['rta15']:.1f} | "
              f"{m['ess_auc30']:.1f} |"
              + (f" {m['model_auc30']:.1f} | {m['model_ess_auc30']:.1f} |" if "model_auc30" in m else ""),
              flush=True)  # fmt: skip

    report()
    b = args.batch
    while time.perf_counter() - start < args.minutes * 60:
        idx = torch.randint(n, (b,), generator=g)
        si, ri = torch.randint(s, (b,), generator=g), torch.randint(s, (b,), generator=g)
        uv = torch.rand(b, args.points, 2, generator=g) * torch.tensor([width - 1.0, height - 1.0])
        if args.fine_dim:  # whole pixels, where GT depth is exact: the fine stage learns sub-pixel truth
            uv = uv.round()
        xy, seen = correspond(
            train["depth"][idx, si], train["depth"][idx, ri], train["ext"][idx, si], train["ext"][idx, ri],
            train["intr"][idx, si], train["intr"][idx, ri], uv,
        )  # fmt: skip
        if not seen.any():
            continue
        images = torch.cat([train["images"][idx, si], train["images"][idx, ri]]).float() / 255
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            d, fine = net.features(images)
        ds, dr = d[:b], d[b:]
        h, w = d.shape[-2:]
        q = sample_at(ds, uv)  # [B, M, C]
        logits = q @ dr.flatten(2) / TEMPERATURE  # [B, M, h*w]
        col = (xy[..., 0] / STRIDE).floor().long().clamp(0, w - 1)
        row = (xy[..., 1] / STRIDE).floor().long().clamp(0, h - 1)
        loss = F.cross_entropy(logits[seen], (row * w + col)[seen])
        if fine is not None:  # the window is put up to JITTER px off the truth, as a coarse match would be
            centre = xy + (torch.rand(xy.shape, generator=g) * 2 - 1) * JITTER
            got = refine(fine[:b], fine[b:], uv, centre, net.log_scale)
            # the truth must lie within the span of the window's cell centres (the window as refine() placed it)
            fh, fw = fine.shape[-2:]
            lo, hi = torch.tensor([RADIUS, RADIUS]), torch.tensor([fw - 1 - RADIUS, fh - 1 - RADIUS])
            mid = ((centre - 0.5) / FINE_STRIDE).round().clamp(lo, hi) * FINE_STRIDE + 0.5
            inside = seen & ((xy - mid).abs() <= RADIUS * FINE_STRIDE).all(-1)
            if inside.any():
                err = F.huber_loss(got[inside], xy[inside], delta=1.0, reduction="none").sum(-1)
                loss = loss + args.fine_weight * err.mean()
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
