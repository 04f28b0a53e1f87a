"""Predictor precision paths: bf16 weights loaded straight in bf16, dtype="auto" by capability, compile."""

from __future__ import annotations

import pytest
import torch

from openvggt import Predictor, runtime
from openvggt.io.checkpoint import save_model
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.runtime import CpuCapability


@pytest.fixture(scope="module")
def tiny():
    return random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False), seed=1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny):
    return save_model(tiny, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def test_bf16_weights_load_in_bf16_and_agree(weights, tiny):
    pred = Predictor(weights, device="cpu", dtype="bf16")
    linear = pred.model.aggregator.frame_blocks[0].attn.qkv
    assert linear.weight.dtype == torch.bfloat16
    images = torch.rand(2, 3, 56, 84, generator=torch.Generator().manual_seed(0))
    out = pred(images)
    ref = Predictor(model=tiny, device="cpu", dtype="fp32")(images)
    assert out.depth.dtype == torch.float32
    assert ((out.depth - ref.depth).abs() / ref.depth).median() < 0.02


def test_auto_on_avx2_cpu_runs_fp32(monkeypatch, tiny):
    cap = CpuCapability(aten="AVX2", avx512_bf16=False, amx=False, vnni=False, onednn_cap=None)
    monkeypatch.setattr(runtime, "cpu_capability", lambda: cap)
    pred = Predictor(model=tiny, device="cpu")
    assert pred.dtype == "fp32" and pred.compute_dtype == torch.float32


def test_compile_matches_eager(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    # One frame, depth head only: frame and global blocks see one shape, so a single graph is compiled.
    cfg = VGGTConfig.preset("vggt-tiny").with_heads(camera=False, point=False, track=False)
    images = torch.rand(1, 3, 28, 42, generator=torch.Generator().manual_seed(0))
    ref = Predictor(model=random_model(cfg, seed=2), device="cpu", dtype="fp32")(images)
    pred = Predictor(model=random_model(cfg, seed=2), device="cpu", dtype="fp32", compile=True)
    out = pred(images)
    assert pred.compiled and "compile=True" in repr(pred)
    assert torch.allclose(out.depth, ref.depth, rtol=1e-4, atol=1e-5)
    assert (tmp_path / "inductor").is_dir()
