"""What the trunk's tokens hold, read by linear probes fitted on some scenes and scored on others.

    python benchmarks/probe_diagnostics.py position WEIGHTS SCENES_ROOT [--scenes 16] [--frames 2]
    python benchmarks/probe_diagnostics.py pose     WEIGHTS SCENES_ROOT [--scenes 120] [--frames 4]
    python benchmarks/probe_diagnostics.py flow     WEIGHTS SCENES_ROOT [--scenes 40] [--tracks 128]
    python benchmarks/probe_diagnostics.py match    WEIGHTS SCENES_ROOT [--scenes 40] [--frames 4] [--tracks 256]

position: each patch token's grid (row, column). A trunk whose values carry no absolute position (a patch
    convolution without positional embedding: RoPE acts on queries and keys only) scores R^2 ~ 0 for the column;
    the row can leak through content (sky at the top).
pose: frame s's camera token (s >= 1) -> its GT pose relative to frame 0 (translation; the rotation matrix's
    off-diagonal entries). This is what the camera head has to read; R^2 ~ 0 means it is not there.
flow: the frame-1 patch token holding a GT point -> the point's displacement to frame 0 (in patches).
match (a camera head with ``camera_head.motion="match"``): how often the head's matcher finds the GT patch (all
    matches, and the mutual best ones it trusts), then whether the motion field it passes on carries the pose: a
    quadratic fit of each frame's motion field (6 x 2 coefficients) -> the frame's GT pose, against the same fit of
    the GT motion of the tracked points (what perfect matches would give this linear read-out).

Ridge regression (standardised features, lambda 10) on the first 3/4 of the scenes, R^2 on the rest against the
fit scenes' mean. Every aggregated layer, both halves of the token (frame-block, global-block output).
"""

from __future__ import annotations

import sys

import _diagnostics
import numpy as np
import torch

from openvggt.io.checkpoint import load_model
from openvggt.models.heads.camera import mutual_best
from openvggt.train.data import collate

_DEFAULTS = {"position": (16, 2), "pose": (120, 4), "flow": (40, 2), "match": (40, 4)}
_OFF_DIAGONAL = [4, 5, 6, 8, 9, 10]  # pose targets: t (0-2), then R row-major (3-11); the diagonal hardly varies


def ridge_r2(x: np.ndarray, y: np.ndarray, fit: np.ndarray, lam: float = 10.0) -> np.ndarray:
    """Held-out R^2 per target column of a ridge fit on the rows ``fit`` (bool mask), scored on the others."""
    mu, sd = x[fit].mean(0), x[fit].std(0) + 1e-6
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    a = z[fit]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y[fit])
    pred, truth = z[~fit] @ w, y[~fit]
    return 1 - ((pred - truth) ** 2).sum(0) / ((truth - y[fit].mean(0)) ** 2).sum(0)


def collect(what: str, model, ds) -> tuple[dict[int, list[np.ndarray]], list[np.ndarray], list[int]]:  # noqa: ANN001
    """Per layer the features, and the targets and scene index of each row."""
    agg, patch = model.aggregator, model.config.patch_size
    feats: dict[int, list[np.ndarray]] = {}
    targets, scene_of = [], []
    for i in range(len(ds)):
        b = collate([ds[i]])
        with torch.no_grad():
            out, start = agg(b["images"])
        height, width = b["images"].shape[-2:]
        gh, gw = height // patch, width // patch
        if what == "position":
            s = b["images"].shape[1]
            rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            y = np.tile(np.stack([rows.ravel(), cols.ravel()], 1), (s, 1)).astype(np.float64)
            pick = [t[0, :, start:].reshape(-1, t.shape[-1]) for t in out.values()]
        elif what == "pose":
            ext = b["extrinsics"][0].numpy()  # [S, 3, 4] frame 0 -> frame s
            y = np.stack([np.r_[e[:, 3], e[:, :3].ravel()] for e in ext[1:]]).astype(np.float64)
            pick = [t[0, 1:, 0] for t in out.values()]  # camera tokens of frames 1..S-1
        else:
            keep = b["track_positive_mask"][0] & b["track_vis_mask"][0][1]
            xy0, xy1 = b["tracks"][0][0, keep], b["tracks"][0][1, keep]  # [Q, 2] pixels
            r1 = (xy1[:, 1] // patch).clamp(0, gh - 1).long()
            c1 = (xy1[:, 0] // patch).clamp(0, gw - 1).long()
            y = ((xy0 - xy1) / patch).numpy().astype(np.float64)
            pick = [t[0, 1, start:][r1 * gw + c1] for t in out.values()]
        for layer, f in zip(out, pick, strict=True):
            feats.setdefault(layer, []).append(f.float().numpy())
        targets.append(y)
        scene_of += [i] * len(y)
    return feats, targets, scene_of


def _quadratic_fit(p: np.ndarray, m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares coefficients (12) of a motion field ``m [n, 2]`` in ``1, x, y, x^2, xy, y^2``."""
    a = np.c_[np.ones(len(p)), p, p[:, 0] ** 2, p[:, 0] * p[:, 1], p[:, 1] ** 2]
    aw = a * w[:, None]
    return np.linalg.solve(a.T @ aw + 1e-3 * np.eye(a.shape[1]), aw.T @ m).ravel()


def match(model, ds) -> int:  # noqa: ANN001
    """The ``match`` report (see the module docstring)."""
    head = getattr(model, "camera_head", None)
    fm = getattr(head, "motion", None)
    if fm is None:
        raise SystemExit("match: this model's camera head does not match patches (camera_head.motion is 'none')")
    patch = model.config.patch_size
    counts = np.zeros((2, 3))  # [all, mutual] x [queries, exact, within one patch]
    fields: dict[str, list[np.ndarray]] = {"matcher": [], "GT tracks": []}
    poses, scene_of = [], []
    for i in range(len(ds)):
        b = collate([ds[i]])
        with torch.no_grad():
            inter = model.forward_intermediates(b["images"], layers=[model.config.depth - 1])
            grid = inter.patch_grid(model.config.depth - 1)
            _, s, h, w, _ = grid.shape
            mf = fm.fields(grid)
        logits, pos, motion, trust = mf.logits[0], mf.pos, mf.motion[0], mf.trust[0]  # [S, ...]
        mutual = mutual_best(logits)  # [S, n]
        best = logits.argmax(-1)  # [S, n]
        tracks, vis = b["tracks"][0], b["track_vis_mask"][0] & b["track_positive_mask"][0]
        side = max(h, w) * patch
        for f in range(1, s):
            keep = vis[f] & vis[0]
            xy0, xyf = tracks[0, keep], tracks[f, keep]  # [Q, 2] pixels
            cell = (xyf[:, 1] // patch).clamp(0, h - 1).long() * w + (xyf[:, 0] // patch).clamp(0, w - 1).long()
            r0, c0 = (xy0[:, 1] // patch).clamp(0, h - 1).long(), (xy0[:, 0] // patch).clamp(0, w - 1).long()
            got = best[f][cell]
            exact = (got // w == r0) & (got % w == c0)
            near = ((got // w - r0).abs() <= 1) & ((got % w - c0).abs() <= 1)
            for row, sel in enumerate((torch.ones_like(exact), mutual[f][cell].bool())):
                counts[row] += [int(sel.sum()), int((exact & sel).sum()), int((near & sel).sum())]
            if len(xy0) < 8:
                continue
            centred = ((xyf - torch.tensor([w * patch / 2, h * patch / 2])) / side).numpy()
            fields["GT tracks"].append(_quadratic_fit(centred, ((xy0 - xyf) / side).numpy(), np.ones(len(xy0))))
            fields["matcher"].append(_quadratic_fit(pos.numpy(), motion[f].numpy(), trust[f].numpy() + 1e-6))
            ext = b["extrinsics"][0][f].numpy()  # [3, 4] frame 0 -> frame f
            poses.append(np.r_[ext[:, 3], ext[:, :3].ravel()])
            scene_of.append(i)
    print(f"match: {int(counts[0, 0])} GT correspondences in {len(ds)} scenes (frames s > 0 against frame 0)")
    print("| matches | share of queries | exact patch | within one patch |")
    print("|---|---:|---:|---:|")
    for name, (n, exact, near) in zip(("all (argmax)", "mutual best"), counts, strict=True):
        print(f"| {name} | {100 * n / max(counts[0, 0], 1):.1f} % | {100 * exact / max(n, 1):.1f} % | "
              f"{100 * near / max(n, 1):.1f} % |")  # fmt: skip
    y, scene = np.asarray(poses), np.asarray(scene_of)
    fit = scene < max(1, len(ds) * 3 // 4)
    if fit.all() or not fit.any():
        raise SystemExit("need at least 2 scenes (the probe is scored on scenes it was not fitted on)")
    print(f"\npose from the motion field: {len(y)} frames ({int(fit.sum())} fit); held-out R^2")
    print("| motion field | t | R |")
    print("|---|---:|---:|")
    for name, rows in fields.items():
        r2 = ridge_r2(np.asarray(rows), y, fit, lam=1.0)
        print(f"| {name} | {r2[:3].mean():.2f} | {r2[_OFF_DIAGONAL].mean():.2f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in _DEFAULTS:
        print(f"usage: probe_diagnostics.py {{{','.join(_DEFAULTS)}}} WEIGHTS SCENES_ROOT [options]", file=sys.stderr)
        return 2
    what = argv[0]
    scenes, frames = _DEFAULTS[what]
    tracks = {"flow": 128, "match": 256}.get(what)
    args = _diagnostics.parse(__doc__, argv[1:], frames=frames, scenes=scenes, tracks=tracks)
    model = load_model(args.weights).eval()
    if what == "match":
        return match(model, _diagnostics.scenes(args, args.frames, args.tracks))
    ds = _diagnostics.scenes(args, 2 if what == "flow" else args.frames, args.tracks if what == "flow" else 0)
    feats, targets, scene_of = collect(what, model, ds)
    y, scene = np.concatenate(targets), np.asarray(scene_of)
    fit = scene < max(1, len(ds) * 3 // 4)
    if fit.all() or not fit.any():
        raise SystemExit("need at least 2 scenes (the probe is scored on scenes it was not fitted on)")
    names = {"position": ["row", "column"], "pose": ["t", "R"], "flow": ["dx", "dy"]}[what]
    print(f"{what}: {len(y)} rows from {len(ds)} scenes ({int(fit.sum())} fit rows); held-out R^2")
    print("| layer | half | " + " | ".join(names) + " |")
    print("|---:|---|" + "---:|" * len(names))
    for layer in sorted(feats):
        x = np.concatenate(feats[layer]).astype(np.float64)
        c = x.shape[1] // 2
        for half, cols in (("frame", slice(0, c)), ("global", slice(c, None))):
            r2 = ridge_r2(x[:, cols], y, fit)
            cells = [r2[:3].mean(), r2[_OFF_DIAGONAL].mean()] if what == "pose" else list(r2)
            print(f"| {layer} | {half} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
