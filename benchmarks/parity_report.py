"""Print the relative error of every output against a parity fixture (float64 and float32).

.venv/bin/python benchmarks/parity_report.py ../shared/fixtures/parity_tiny
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from openvggt.models.config import VGGTConfig
from openvggt.models.vggt import VGGT


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def main(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    inputs, ref = load_file(str(d / "inputs.safetensors")), load_file(str(d / "outputs.safetensors"))
    layers = sorted(int(k.rsplit(".", 1)[1]) for k in ref if k.startswith("aggregator.tokens."))
    results: dict[str, dict[str, float]] = {}
    for dtype in (torch.float64, torch.float32):
        model = VGGT(VGGTConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(d / "state_dict.safetensors")), strict=True)
        model = model.to(dtype).eval()
        images, queries = inputs["images"].to(dtype), inputs["query_points"].to(dtype)
        with torch.no_grad():
            out = model(images, query_points=queries)
            tokens, _ = model.aggregator(images, layers=layers)
        for key, value in ref.items():
            if key.startswith("aggregator.tokens."):
                ours = tokens[int(key.rsplit(".", 1)[1])]
            elif key.startswith("pose_enc_list."):
                ours = out.pose_enc_list[int(key.rsplit(".", 1)[1])]
            else:
                ours = out[key]
            results.setdefault(key, {})[str(dtype).split(".")[1]] = rel(ours, value)
    print("| output | float64 | float32 |\n|---|---:|---:|")
    for key, r in results.items():
        print(f"| `{key}` | {r['float64']:.1e} | {r['float32']:.1e} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures/parity_tiny"))
