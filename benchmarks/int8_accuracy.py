"""Accuracy cost of each CPU precision (bf16, int8) against fp32, on real weights and real-ish inputs.

    python benchmarks/int8_accuracy.py --scenes 4 --frames 4 --json docs/results/int8_accuracy.json

Two models, both through ``Predictor(..., dtype=...)``:
1. the parity fixture's model (``../shared/fixtures/parity_tiny``: weights with official names, the official
   code's inputs and float64 outputs): every precision is compared with fp32 and with the float64 reference;
2. the shipped default model (``vggt-small``, camera + depth heads: it has no point head) on held-out synthetic
   scenes (seed ``TEST_SEED``, never trained on): agreement with fp32 and the camera AUC@30 against the exact
   ground-truth cameras.

Agreement: median relative depth and point difference, worst camera rotation difference (degrees).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from openvggt import Predictor
from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.metrics.camera import camera_metrics
from openvggt.models.config import VGGTConfig
from openvggt.models.vggt import VGGT
from openvggt.runtime import cpu_capability

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OPENVGGT_SHARED", REPO.parent / "shared"))
HEADS = ("camera", "depth", "point")


def agreement(out, ref) -> dict[str, float]:  # noqa: ANN001
    d, dr = out.depth.double(), ref.depth.double()
    hw = d.shape[2:4]
    r = pose_encoding_to_extri_intri(out.pose_enc.double(), hw)[0][..., :3]
    rr = pose_encoding_to_extri_intri(ref.pose_enc.double(), hw)[0][..., :3]
    cos = (((r @ rr.transpose(-1, -2)).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    row = {
        "depth_rel_median": ((d - dr).abs() / dr.abs().clamp_min(1e-12)).median().item(),
        "points_rel_median": float("nan"),  # a model without a point head
        "camera_angle_deg_max": math.degrees(torch.arccos(cos).max().item()),
    }
    if out.world_points is not None:
        p, pr = out.world_points.double(), ref.world_points.double()
        row["points_rel_median"] = ((p - pr).norm(dim=-1) / pr.norm(dim=-1).clamp_min(1e-12)).median().item()
    return row


def _angle(pose_enc: torch.Tensor, ref: torch.Tensor, hw) -> float:  # noqa: ANN001
    r = pose_encoding_to_extri_intri(pose_enc.double(), hw)[0][..., :3]
    rr = pose_encoding_to_extri_intri(ref.double(), hw)[0][..., :3]
    cos = (((r @ rr.transpose(-1, -2)).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return math.degrees(torch.arccos(cos).max().item())


def precisions() -> list[str]:
    names = ["fp32", "int8"]
    if cpu_capability().native_bf16:
        names.insert(1, "bf16")
    return names


def parity_fixture() -> dict:
    d = SHARED / "fixtures" / "parity_tiny"
    meta = json.loads((d / "meta.json").read_text())
    model = VGGT(VGGTConfig.from_dict(meta["config"]))
    model.load_state_dict(load_file(str(d / "state_dict.safetensors")), strict=True)
    images = load_file(str(d / "inputs.safetensors"))["images"]
    ref64 = load_file(str(d / "outputs.safetensors"))
    outs = {name: Predictor(model=copy.deepcopy(model), device="cpu", dtype=name, heads=HEADS)(images)
            for name in precisions()}  # fmt: skip
    rows = {}
    for name, out in outs.items():
        row = {"vs_float64_depth_max_rel": float((out.depth.double() - ref64["depth"]).abs().max()
                                                 / ref64["depth"].abs().max()),
               "vs_float64_camera_deg": _angle(out.pose_enc, ref64["pose_enc"], images.shape[-2:])}  # fmt: skip
        if name != "fp32":
            row.update(agreement(out, outs["fp32"]))
        rows[name] = row
    return {"model": "parity_tiny (official code's weights and inputs)", "images": list(images.shape), "rows": rows}


def synthetic(num_scenes: int, frames: int, size: int) -> dict:
    from openvggt.data.synth.synthetic import TEST_SEED, SynthConfig, generate_scene

    predictors = {name: Predictor("default", device="cpu", dtype=name) for name in precisions()}  # camera + depth
    per = {name: [] for name in predictors}
    for i in range(num_scenes):
        scene = generate_scene(TEST_SEED, i, SynthConfig(num_frames=frames, size=size))
        images = [scene.render(k)[0] for k in range(frames)]
        gt = np.concatenate([np.stack([c.R for c in scene.cameras]), np.stack([c.t for c in scene.cameras])[..., None]],
                            axis=-1)  # [S, 3, 4] world-to-camera  # fmt: skip
        outs = {name: p(images) for name, p in predictors.items()}
        for name, out in outs.items():
            row = {"auc30": camera_metrics(out.extrinsic[0].numpy(), gt)["auc30"]}
            if name != "fp32":
                row.update(agreement(out, outs["fp32"]))
            per[name].append(row)
    summary = {name: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for name, rows in per.items()}
    return {"model": "shipped default (vggt-small)", "scenes": num_scenes, "frames": frames, "size": size,
            "seed": TEST_SEED, "median_over_scenes": summary, "per_scene": per}  # fmt: skip


def markdown(payload: dict) -> str:
    lines = [f"CPU: {payload['cpu']}; {payload['date']}. Differences to fp32: median relative depth / point "
             "difference, worst camera rotation difference.", ""]  # fmt: skip
    pf = payload["parity_fixture"]
    lines += [f"**{pf['model']}**, images {pf['images']}:", "",
              "| precision | depth vs float64 (max rel) | camera vs float64 (deg) | depth vs fp32 | points vs fp32 "
              "| camera vs fp32 (deg) |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in pf["rows"].items():
        vs = (f"{r['depth_rel_median']:.3%} | {r['points_rel_median']:.3%} | {r['camera_angle_deg_max']:.3f}"
              if "depth_rel_median" in r else "– | – | –")  # fmt: skip
        lines.append(f"| {name} | {r['vs_float64_depth_max_rel']:.2e} | {r['vs_float64_camera_deg']:.3f} | {vs} |")
    sy = payload["synthetic"]
    lines += ["", f"**{sy['model']}**, {sy['scenes']} held-out synthetic scenes (seed {sy['seed']}) of "
              f"{sy['frames']} frames, {sy['size']} px; medians over scenes:", "",
              "| precision | camera AUC@30 vs ground truth | depth vs fp32 | points vs fp32 | camera vs fp32 (deg) |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in sy["median_over_scenes"].items():
        vs = (f"{r['depth_rel_median']:.3%} | {r['points_rel_median']:.3%} | {r['camera_angle_deg_max']:.3f}"
              if "depth_rel_median" in r else "– | – | –")  # fmt: skip
        lines.append(f"| {name} | {r['auc30']:.2f} | {vs} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--size", type=int, default=256, help="rendered image width (the model input is its own)")
    ap.add_argument("--json", type=Path, default=REPO / "docs" / "results" / "int8_accuracy.json")
    args = ap.parse_args()
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_capability().describe(),
        "parity_fixture": parity_fixture(),
        "synthetic": synthetic(args.scenes, args.frames, args.size),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1))
    args.json.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
