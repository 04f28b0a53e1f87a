"""Capability-aware precision: dtype="auto" never picks bf16 on a CPU without native bf16; explicit bf16 warns."""

from __future__ import annotations

import warnings

import pytest
import torch

from openvggt import runtime
from openvggt.errors import UserError
from openvggt.runtime import CpuCapability

AVX2_ONLY = CpuCapability(aten="AVX2", avx512_bf16=False, amx=False, vnni=False, onednn_cap=None)
AMX = CpuCapability(aten="AVX512", avx512_bf16=True, amx=True, vnni=True, onednn_cap=None)
# An AMX CPU run as an AVX2 one (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2): hardware flags stay on.
AMX_CAPPED = CpuCapability(aten="AVX2", avx512_bf16=True, amx=True, vnni=True, onednn_cap="AVX2")
AVX512_NO_BF16 = CpuCapability(aten="AVX512", avx512_bf16=False, amx=False, vnni=True, onednn_cap=None)


@pytest.fixture
def cpu_is(monkeypatch):
    def set_cap(cap: CpuCapability) -> None:
        monkeypatch.setattr(runtime, "cpu_capability", lambda: cap)
        monkeypatch.setattr(runtime, "_warned", set())

    return set_cap


@pytest.mark.parametrize("cap", [AVX2_ONLY, AMX_CAPPED, AVX512_NO_BF16], ids=["avx2", "amx-capped", "avx512"])
def test_auto_is_fp32_without_native_bf16(cpu_is, cap):
    cpu_is(cap)
    assert not cap.native_bf16
    assert runtime.resolve_dtype("auto", "cpu") == "fp32"
    assert runtime.resolve_dtype(None, "cpu") == "fp32"


def test_auto_is_bf16_with_native_bf16(cpu_is):
    cpu_is(AMX)
    assert runtime.resolve_dtype("auto", "cpu") == "bf16"


def test_onednn_cap_above_bf16_keeps_native():
    cap = CpuCapability(aten="AVX512", avx512_bf16=True, amx=True, vnni=True, onednn_cap="avx512_core_amx")
    assert cap.native_bf16


def test_explicit_bf16_on_emulating_cpu_warns_once_with_reason(cpu_is):
    cpu_is(AVX2_ONLY)
    with pytest.warns(RuntimeWarning, match=r"emulated.*GFLOP/s") as record:
        assert runtime.resolve_dtype("bf16", "cpu") == "bf16"
    assert "AVX2" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runtime.resolve_dtype("bf16", "cpu") == "bf16"  # once only


def test_explicit_bf16_on_native_cpu_is_silent(cpu_is):
    cpu_is(AMX)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runtime.resolve_dtype(torch.bfloat16, "cpu") == "bf16"


def test_bad_dtypes():
    with pytest.raises(UserError, match="dtype must be one of"):
        runtime.resolve_dtype("int4", "cpu")
    with pytest.raises(UserError, match="fp16 is not supported on CPU"):
        runtime.resolve_dtype("fp16", "cpu")
    with pytest.raises(UserError, match="not supported"):
        runtime.resolve_dtype(torch.int8, "cpu")


def test_int8_engine_follows_capability(cpu_is):
    engines = torch.backends.quantized.supported_engines
    if not {"onednn", "fbgemm"} <= set(engines):
        pytest.skip(f"this torch build has quantised engines {engines}")
    cpu_is(AMX)
    assert runtime.int8_engine() == "onednn"
    cpu_is(AMX_CAPPED)
    assert runtime.int8_engine() == "fbgemm"
    cpu_is(AVX2_ONLY)
    assert runtime.int8_engine() == "fbgemm"


def test_int8_activations_use_7_bits_where_the_kernels_saturate(cpu_is):
    """fbgemm always; oneDNN unless it may use VNNI/AMX int8 (its AVX2 kernels saturate int16 sums too)."""
    cpu_is(AMX)
    assert runtime.int8_reduce_range("fbgemm") is True
    assert runtime.int8_reduce_range("onednn") is False
    for cap in (AVX2_ONLY, AMX_CAPPED):  # no VNNI, or oneDNN capped below it
        cpu_is(cap)
        assert runtime.int8_reduce_range("onednn") is True
    cpu_is(AVX512_NO_BF16)  # VNNI without bf16: oneDNN's VNNI kernels do not saturate
    assert runtime.int8_reduce_range("onednn") is False


def test_load_dtype():
    assert runtime.load_dtype("cpu", "bf16") == torch.bfloat16
    assert runtime.load_dtype("cpu", "int8") == torch.bfloat16
    assert runtime.load_dtype("cpu", "fp32") == torch.float32
    assert runtime.load_dtype("cuda", "bf16") == torch.float32  # CUDA autocast runs the heads in fp32


def test_training_precision_follows_the_same_rule(cpu_is):
    from openvggt.train.trainer import _autocast, resolve_precision

    cpu = torch.device("cpu")
    cpu_is(AVX2_ONLY)
    ctx, scaler = _autocast(cpu, resolve_precision(cpu, "auto"))
    assert not ctx._enabled and scaler is None
    cpu_is(AMX)
    ctx, scaler = _autocast(cpu, resolve_precision(cpu, "auto"))
    assert ctx._enabled and ctx.fast_dtype == torch.bfloat16 and scaler is None
    with pytest.raises(ValueError, match="int8"):
        resolve_precision(cpu, "int8")


def test_int8_rest_runs_bf16_only_where_native(cpu_is):
    cpu_is(AMX)
    with runtime.autocast("cpu", "int8"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert runtime.torch_dtype("int8") == torch.bfloat16
    cpu_is(AVX2_ONLY)
    with runtime.autocast("cpu", "int8"):
        assert not torch.is_autocast_enabled("cpu")
    assert runtime.torch_dtype("int8") == torch.float32


def test_int8_engine_override(monkeypatch, cpu_is):
    cpu_is(AMX)
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        pytest.skip("no fbgemm in this torch build")
    monkeypatch.setenv("OPENVGGT_INT8_ENGINE", "fbgemm")
    assert runtime.int8_engine() == "fbgemm"
    monkeypatch.setenv("OPENVGGT_INT8_ENGINE", "qnnpack")
    with pytest.raises(UserError, match="OPENVGGT_INT8_ENGINE"):
        runtime.int8_engine()
