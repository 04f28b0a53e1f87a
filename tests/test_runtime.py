"""Device resolution, precision names and the CPU-capability rule behind dtype="auto"."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from openvggt import runtime
from openvggt.errors import UserError
from openvggt.runtime import CpuCapability, autocast, resolve_device, resolve_dtype


def _capability(**kwargs) -> CpuCapability:
    values = {"aten": "AVX512", "avx512_bf16": False, "amx": False, "vnni": False, "onednn_cap": None} | kwargs
    return CpuCapability(**values)


@pytest.mark.parametrize(
    ("cap", "native"),
    [
        (_capability(aten="AVX2"), False),
        (_capability(aten="AVX512"), False),  # AVX-512 without the BF16 extension
        (_capability(avx512_bf16=True), True),
        (_capability(amx=True), True),
        (_capability(amx=True, onednn_cap="AVX2"), False),  # oneDNN capped below native bf16
        (_capability(amx=True, aten="AVX2"), False),  # ATen capped (ATEN_CPU_CAPABILITY=avx2)
    ],
)
def test_native_bf16(cap, native):
    assert cap.native_bf16 is native
    assert ("native bf16" in cap.describe()) and (("no native" in cap.describe()) is not native)


@pytest.mark.parametrize(("native", "expected"), [(False, "fp32"), (True, "bf16")])
def test_auto_on_the_cpu_follows_the_capability(monkeypatch, native, expected):
    cap = _capability(avx512_bf16=native, aten="AVX512" if native else "AVX2")
    monkeypatch.setattr(runtime, "cpu_capability", lambda: cap)
    assert resolve_dtype("auto", "cpu") == expected
    assert resolve_dtype(None, "cpu") == expected


def test_explicit_bf16_without_native_support_warns_once(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_capability", lambda: _capability(aten="AVX2"))
    monkeypatch.setattr(runtime, "_warned", set())
    with pytest.warns(RuntimeWarning, match="100x slower"):
        assert resolve_dtype("bf16", "cpu") == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_dtype(torch.bfloat16, "cpu") == "bf16"  # the second time is silent


@pytest.mark.parametrize(
    ("dtype", "device", "message"),
    [("fp16", "cpu", "fp16 is not supported on CPU"), ("int8", "cuda", "CPU only"), ("int4", "cpu", "one of")],
)
def test_refused_precisions(dtype, device, message):
    with pytest.raises(UserError, match=message):
        resolve_dtype(dtype, device)


def test_devices():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match="is not a device"):
        resolve_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_autocast_contexts(monkeypatch):
    assert isinstance(autocast("cpu", "fp32"), contextlib.nullcontext)
    monkeypatch.setattr(runtime, "cpu_capability", lambda: _capability(aten="AVX2"))
    assert isinstance(autocast("cpu", "int8"), contextlib.nullcontext)  # int8 linears, the rest in fp32
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
