"""The speed scripts' own logic: FLOP split, floor, agreement measures, the GPU script end to end on a tiny CPU run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cpu_speed():
    return _load("cpu_speed")


def test_split_flops_and_floor(cpu_speed):
    flops = {"aten.addmm": 6e12, "aten.mm": 2e12, "aten._scaled_dot_product_flash_attention_for_cpu": 1e12,
             "aten.convolution": 1e12}  # fmt: skip
    split = cpu_speed.split_flops(flops)
    assert split == {"total": 10e12, "linear": 8e12, "attention": 1e12, "conv": 1e12, "other": 0.0}
    peaks = {"fp32": 100.0, "bf16": 400.0, "int8": 800.0}
    assert cpu_speed.floor_s(split, peaks, "fp32", "fp32") == pytest.approx(8e12 / 100e9 + 2e12 / 100e9)
    assert cpu_speed.floor_s(split, peaks, "int8", "bf16") == pytest.approx(8e12 / 800e9 + 2e12 / 400e9)


def test_agreement_measures(cpu_speed):
    g = torch.Generator().manual_seed(0)
    pose = torch.tensor([[[0, 0, 0, 0, 0, 0, 1, 1.0, 1.2], [0.1, 0, 0, 0, 0, 0, 1, 1.0, 1.2]]])
    ref = {"depth": torch.rand(1, 2, 14, 28, 1, generator=g) + 1, "world_points": torch.randn(1, 2, 14, 28, 3),
           "pose_enc": pose}  # fmt: skip
    same = cpu_speed.agreement(ref, ref)
    assert same == {"depth_rel_median": 0.0, "points_rel_median": 0.0, "camera_angle_deg_max": 0.0}
    out = {k: v.clone() for k, v in ref.items()}
    out["depth"] *= 1.01
    half = torch.tensor(torch.pi / 180 * 5 / 2)  # 5 degrees about z: quaternion xyzw (0, 0, sin, cos)
    out["pose_enc"][0, 1, 3:7] = torch.tensor([0, 0, torch.sin(half), torch.cos(half)])
    a = cpu_speed.agreement(out, ref)
    assert a["depth_rel_median"] == pytest.approx(0.01, rel=1e-4)
    assert a["camera_angle_deg_max"] == pytest.approx(5.0, abs=1e-4)


def test_gpu_bench_runs_on_cpu_tiny(tmp_path):
    out = tmp_path / "g.json"
    cmd = [sys.executable, str(BENCH / "gpu_bench.py"), "--preset", "vggt-tiny", "--device", "cpu", "--size", "28x42",
           "--frames", "1,6", "--ref-chunk", "2", "--budget", "120", "--lean-frames", "6",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(out.read_text())
    assert [r["frames"] for r in payload["rows"]] == [1, 6] and all(r["ok"] for r in payload["rows"])
    check = payload["check"]
    assert check["kind"].startswith("full reference") and check["chunked_attention_calls"] >= 24
    assert check["depth_median_rel"] < 1e-3 and check["layer23_tokens_max_rel"] < 1e-2
    assert payload["lean"]["ok"] and payload["lean"]["frames"] == 6
    assert "| 6 |" in out.with_suffix(".md").read_text()


def test_gpu_bench_prediction_skips_rows_that_do_not_fit():
    gpu_bench = _load("gpu_bench")
    rows = [{"frames": 100, "ok": True, "time_s": 3.0}, {"frames": 200, "ok": True, "time_s": 9.0}]
    t = gpu_bench.predict(rows, 400)  # local exponent log(3)/log(2) = 1.58
    assert 9.0 * 2 < t < 1.2 * 9.0 * 4 + 1e-9
    assert gpu_bench.predict(rows[:1], 1000) == pytest.approx(1.2 * 3.0 * 10)


def test_kernel_rates_quick(tmp_path):
    """Every kernel row either has a rate or says why it could not run; the quantised conv reports its error."""
    out = tmp_path / "k.json"
    cmd = [sys.executable, str(BENCH / "kernel_rates.py"), "--quick", "--repeat", "1", "--threads", "1",
           "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(out.read_text())
    kernels = {r["kernel"]: r for r in payload["rows"]}
    assert "fp32 matmul 128^3" in kernels and kernels["fp32 matmul 128^3"]["gflops"] > 0
    assert any(k.startswith("fp32 SDPA global") for k in kernels)
    for row in payload["rows"]:
        assert ("gflops" in row and row["gflops"] > 0) or row.get("error"), row
    for row in (r for r in payload["rows"] if r["kernel"].startswith("int8 dynamic conv") and "gflops" in r):
        assert row["rel_error"] >= 0
