"""Where and in what precision the model runs: device resolution, dtype names, autocast, CPU capability.

Every caller (``Predictor``, the pipeline, ``bench``, training, evaluation, the CLI's choice lists) goes through
this module, so the rules live in one place:

* ``device="auto"``: CUDA when available, else MPS when available, else the CPU.
* ``dtype="auto"``: the fastest precision the device runs *accurately and natively*:
  bf16 on CUDA GPUs that support it (fp16 on older ones); on the CPU bf16 only where the processor has native
  bf16 arithmetic (AVX-512-BF16 or AMX) and oneDNN is allowed to use it, fp32 otherwise; fp32 on MPS.
  On AVX2-only processors bf16/fp16 matrix products and convolutions run ~100x slower than fp32 (measured:
  ~1 GFLOP/s against 127 GFLOP/s), so an explicit ``bf16`` there is honoured but warned about once.
* ``int8`` (CPU only): dynamic int8 quantisation of the linear layers (see :mod:`openvggt.quant`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from dataclasses import dataclass

import torch

from openvggt.errors import UserError

log = logging.getLogger(__name__)

__all__ = [
    "AUTOCAST_DTYPES",
    "DTYPE_NAMES",
    "CpuCapability",
    "autocast",
    "cpu_capability",
    "resolve_device",
    "resolve_dtype",
    "torch_dtype",
]

# Names accepted by every ``--dtype`` option and ``dtype=`` argument, besides "auto".
AUTOCAST_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_NAMES = ("auto", "fp32", "bf16", "fp16", "int8")

# oneDNN ISA names at or above which bf16 runs natively (ONEDNN_MAX_CPU_ISA can cap the library below that).
_ONEDNN_BF16_ISAS = (
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX10_2_512",
    "AVX10_2_512_AMX_2",
    "ALL",
    "DEFAULT",
)


@dataclass(frozen=True)
class CpuCapability:
    """What this CPU and this torch build can do; ``native_bf16`` decides ``dtype="auto"`` on the CPU."""

    aten: str  # torch.backends.cpu.get_cpu_capability(): "AVX2", "AVX512", ... (ATEN_CPU_CAPABILITY caps it)
    avx512_bf16: bool
    amx: bool
    vnni: bool
    onednn_cap: str | None  # ONEDNN_MAX_CPU_ISA when set

    @property
    def native_bf16(self) -> bool:
        hardware = self.avx512_bf16 or self.amx
        allowed = self.onednn_cap is None or self.onednn_cap.upper() in _ONEDNN_BF16_ISAS
        return hardware and allowed and self.aten not in ("DEFAULT", "NO AVX", "AVX2")

    def describe(self) -> str:
        flags = [name for name, on in (("avx512-bf16", self.avx512_bf16), ("amx", self.amx), ("vnni", self.vnni)) if on]
        cap = f", oneDNN capped at {self.onednn_cap}" if self.onednn_cap else ""
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        return f"{self.aten} ({', '.join(flags) or 'no bf16/int8 extensions'}{cap}; {bf16})"


@functools.lru_cache(maxsize=1)
def cpu_capability() -> CpuCapability:
    def probe(name: str) -> bool:
        fn = getattr(torch.cpu, name, None)
        try:
            return bool(fn()) if fn is not None else False
        except RuntimeError:  # pragma: no cover - a torch build without cpuinfo
            return False

    return CpuCapability(
        aten=torch.backends.cpu.get_cpu_capability(),
        avx512_bf16=probe("_is_avx512_bf16_supported"),
        amx=probe("_is_amx_tile_supported"),
        vnni=probe("_is_vnni_supported"),
        onednn_cap=os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or None,
    )


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None: CUDA, else MPS, else CPU; otherwise the named device, checked to exist."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UserError(f"device {device!r} is not a device (use cpu, cuda, cuda:1, mps or auto)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device}: CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device}: MPS is not available on this machine")
    return dev


_warned: set[str] = set()


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device | str) -> str:
    """The precision name (``fp32``/``bf16``/``fp16``/``int8``) to run on ``device`` for the requested ``dtype``."""
    device = torch.device(device)
    if isinstance(dtype, torch.dtype):
        names = {v: k for k, v in AUTOCAST_DTYPES.items()}
        if dtype not in names:
            raise UserError(f"dtype {dtype} is not supported; use one of {DTYPE_NAMES}")
        dtype = names[dtype]
    name = (dtype or "auto").lower()
    if name not in DTYPE_NAMES:
        raise UserError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got {dtype!r}")
    if name == "auto":
        return _auto_dtype(device)
    if device.type == "cpu":
        if name == "fp16":
            raise UserError("dtype fp16 is not supported on CPU; use auto, fp32, bf16 or int8")
        if name == "bf16" and not cpu_capability().native_bf16 and "bf16" not in _warned:
            _warned.add("bf16")
            warnings.warn(
                f"bf16 on this CPU ({cpu_capability().describe()}) is emulated: its matrix products and "
                "convolutions run ~100x slower than fp32 (measured ~1 GFLOP/s against 127 GFLOP/s on an AVX2-only "
                "CPU); use dtype='auto' (fp32 here) or 'int8'",
                RuntimeWarning,
                stacklevel=3,
            )
    elif name == "int8":
        raise UserError(f"dtype int8 runs on the CPU only, not on {device.type}")
    return name


def _auto_dtype(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_capability().native_bf16 else "fp32"
    return "fp32"  # MPS and others: fp32 is the accurate default


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of an autocast precision name (``int8`` computes its non-linear parts in fp32)."""
    return AUTOCAST_DTYPES.get(name, torch.float32)


def autocast(device: torch.device | str, dtype: str) -> contextlib.AbstractContextManager:
    """Mixed precision for a resolved precision name (fp32 and int8: none)."""
    device = torch.device(device)
    if dtype in ("fp32", "int8"):
        return contextlib.nullcontext()
    if dtype not in AUTOCAST_DTYPES:
        raise UserError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got {dtype!r}")
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[dtype])


def describe_device(device: torch.device | str) -> str:
    """A one-line description of the device for logs and benchmark tables."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    if device.type == "cpu":
        return f"CPU {cpu_capability().describe()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    return f"{device.type}, torch {torch.__version__}"
