"""Does a trained model's camera head use the images? Per scene: GT vs predicted relative rotations and
translation norms, and the gradient of one frame's pose with respect to every frame's pixels.

    python benchmarks/camera_diagnostics.py WEIGHTS SCENES_ROOT [--size 112] [--frames 8] [--scenes 4] [--threads 1]

A head that predicts (about) the same pose for every frame shows predicted relative rotations far below
the GT ones, rotation errors equal to the GT relative rotations, and equal predicted |t| everywhere.
"""

from __future__ import annotations

import sys

import _diagnostics
import numpy as np

from openvggt.io.checkpoint import load_model
from openvggt.metrics import relative_pose_errors
from openvggt.train.data import collate
from openvggt.train.validate import decode_cameras


def _norms(extrinsics: np.ndarray) -> str:
    return " ".join(f"{v:.2f}" for v in np.linalg.norm(extrinsics[:, :, 3], axis=1))


def main(argv: list[str] | None = None) -> int:
    args = _diagnostics.parse(__doc__, argv, size=112)
    model = load_model(args.weights, heads=("camera",)).eval()
    ds = _diagnostics.scenes(args, args.frames)
    identity = np.repeat(np.eye(3, 4)[None], args.frames, 0)
    print("| scene | GT rel. rot. (median °) | predicted rel. rot. | rot. error | GT |t| | predicted |t| |")
    print("|---|---:|---:|---:|---|---|")
    pooled: dict[str, list[np.ndarray]] = {"rot": [], "gt_rot": [], "trans": [], "pred_rot": []}
    for i in range(len(ds)):
        b = collate([ds[i]])
        images = b["images"].clone().requires_grad_(True)
        out = model(images, heads=("camera",))
        ext = decode_cameras(out.pose_enc.detach(), tuple(images.shape[-2:]))[0].numpy()
        gt = b["extrinsics"][0].numpy()
        err = relative_pose_errors(ext, gt)
        pooled["rot"].append(err.rot_deg)
        pooled["gt_rot"].append(relative_pose_errors(identity, gt).rot_deg)
        pooled["pred_rot"].append(relative_pose_errors(identity, ext).rot_deg)
        pooled["trans"].append(err.trans_deg)
        print(
            f"| {b['seq_name'][0]} | {np.median(relative_pose_errors(identity, gt).rot_deg):.1f} | "
            f"{np.median(relative_pose_errors(identity, ext).rot_deg):.1f} | {np.median(err.rot_deg):.1f} | "
            f"{_norms(gt)} | {_norms(ext)} |"
        )
        if i == 0:
            out.pose_enc[0, 1, :7].sum().backward()
            grad = images.grad[0].abs().flatten(1).sum(1)
            first = ", ".join(f"{v:.1e}" for v in grad.tolist())
    print(f"\n|d pose(frame 1) / d pixels(frame s)| summed, scene 0, s = 0..{args.frames - 1}: {first}")
    rot, gt_rot, pred_rot, trans = (np.concatenate(pooled[k]) for k in ("rot", "gt_rot", "pred_rot", "trans"))
    print(
        f"all {len(rot)} pairs: median rotation error {np.median(rot):.1f} deg against {np.median(gt_rot):.1f} for "
        f"the identity (predicted rel. rotation {np.median(pred_rot):.1f}); RRA@15 {100 * (rot < 15).mean():.1f} "
        f"(identity {100 * (gt_rot < 15).mean():.1f}); median translation-direction error {np.nanmedian(trans):.1f} "
        f"deg, RTA@15 {100 * (trans < 15).mean():.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
