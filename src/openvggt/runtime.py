"""Where and in what precision the model runs: device resolution, dtype names, autocast, CPU capability.

Every caller (``Predictor``, the pipeline, ``bench``, training, evaluation, the CLI's choice lists) goes through
this module, so the rules live in one place:

* ``device="auto"``: CUDA when available, else MPS when available, else the CPU.
* ``dtype="auto"``: the fastest precision the device runs *accurately and natively*:
  bf16 on CUDA GPUs that support it (fp16 on older ones); on the CPU bf16 only where the processor has native
  bf16 arithmetic (AVX-512-BF16 or AMX) and oneDNN is allowed to use it, fp32 otherwise; fp32 on MPS.
  On AVX2-only processors bf16/fp16 matrix products and convolutions run ~100x slower than fp32 (measured:
  ~1 GFLOP/s against 127 GFLOP/s), so an explicit ``bf16`` there is honoured but warned about once.
* ``int8`` (CPU only): dynamic int8 quantisation of the linear layers (see :mod:`openvggt.quant`); the other
  products (attention, convolutions) run in bf16 where the CPU has native bf16, in fp32 otherwise (measured on
  VGGT-1B: with them in fp32 the int8 forward was slower than the bf16 one on an AMX CPU).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from openvggt.errors import UserError
from openvggt.layers.block import Block

log = logging.getLogger(__name__)

__all__ = [
    "AUTOCAST_DTYPES",
    "DTYPE_NAMES",
    "CpuCapability",
    "autocast",
    "compile_model",
    "cpu_capability",
    "int8_engine",
    "int8_reduce_range",
    "load_dtype",
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


INT8_ENGINE_ENV = "OPENVGGT_INT8_ENGINE"


def int8_engine() -> str:
    """The quantised engine for ``dtype="int8"``: oneDNN where it may use VNNI/AMX int8, fbgemm otherwise.

    Measured (one 1564x1024x4096 layer, 1 thread): on the AMX Xeon oneDNN ~1,500 GOP/s against fbgemm ~350-590;
    with oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``) oneDNN falls to ~190 GOP/s. Memory: oneDNN keeps
    ~2 bytes per weight (its packed copy and the int8 original) and grows by ~2 GB more during a VGGT-1B forward;
    fbgemm keeps 1 byte per weight. ``OPENVGGT_INT8_ENGINE=fbgemm`` (or ``onednn``) overrides the choice.
    """
    engines = torch.backends.quantized.supported_engines
    forced = os.environ.get(INT8_ENGINE_ENV)
    if forced:
        if forced not in engines or forced not in ("onednn", "fbgemm"):
            raise UserError(f"{INT8_ENGINE_ENV}={forced}: use onednn or fbgemm (this torch has {engines})")
        return forced
    cap = cpu_capability()
    if (cap.vnni or cap.amx) and cap.native_bf16 and "onednn" in engines:  # native_bf16 honours the oneDNN cap
        return "onednn"
    for name in ("fbgemm", "onednn"):
        if name in engines:
            return name
    raise UserError(f"dtype int8: this torch build has no quantised CPU engine (it has {engines})")


# oneDNN ISA caps that still allow its VNNI int8 kernels (which accumulate u8 x s8 in int32 without saturating).
_ONEDNN_VNNI_ISAS = ("AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE_VNNI", *_ONEDNN_BF16_ISAS)


def int8_reduce_range(engine: str) -> bool:
    """Whether int8 activations must use 7 bits with ``engine`` on this CPU.

    Without VNNI (AVX2-only CPUs, or oneDNN capped below it) both engines multiply u8 x s8 with ``vpmaddubsw``,
    whose pairwise int16 sums saturate for 8-bit activations: measured on the AVX2 EPYC, oneDNN with 8-bit
    activations had a relative error up to 0.036 on a 256->512 layer against 0.023 with 7 bits. fbgemm keeps 7 bits
    on every CPU (torch.ao's own default for it); oneDNN gets 8 bits where it may use VNNI or AMX int8.
    """
    if engine != "onednn":
        return True
    cap = cpu_capability()
    allowed = cap.onednn_cap is None or cap.onednn_cap.upper() in _ONEDNN_VNNI_ISAS
    return not ((cap.vnni or cap.amx) and allowed)


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
    """The torch dtype of an autocast precision name (``int8``: that of its non-linear parts)."""
    if name == "int8":
        return torch.bfloat16 if cpu_capability().native_bf16 else torch.float32
    return AUTOCAST_DTYPES.get(name, torch.float32)


def autocast(device: torch.device | str, dtype: str) -> contextlib.AbstractContextManager:
    """Mixed precision for a resolved precision name (fp32: none; int8: bf16 around the int8 linears where native)."""
    device = torch.device(device)
    if dtype == "int8":
        native = device.type == "cpu" and cpu_capability().native_bf16
        return torch.autocast("cpu", dtype=torch.bfloat16) if native else contextlib.nullcontext()
    if dtype == "fp32":
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


def load_dtype(device: torch.device | str, dtype: str) -> torch.dtype:
    """The dtype to load weights in for a resolved precision: bf16 on the CPU for ``bf16`` and ``int8`` (no fp32
    copy of the model in RAM; int8 quantises from it), fp32 otherwise (CUDA autocast runs the heads in fp32)."""
    if torch.device(device).type == "cpu" and dtype in ("bf16", "int8"):
        return torch.bfloat16
    return torch.float32


COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def compile_cache_dir() -> Path:
    """Where compiled kernels and FX graphs are cached: ``$TORCHINDUCTOR_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/openvggt/inductor`` (``~/.cache/openvggt/inductor``)."""
    if os.environ.get(COMPILE_CACHE_ENV):
        return Path(os.environ[COMPILE_CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "openvggt" / "inductor"


def compile_model(model: nn.Module) -> nn.Module:
    """``torch.compile`` every transformer block of ``model`` in place (aggregator, DINOv2 encoder, camera head).

    Blocks share their code, so the frame and the global blocks compile to two graphs per input shape, reused by
    all 24 layers; the compile time is paid on the first call of each shape. Inductor's FX graph cache and its
    kernels go to :func:`compile_cache_dir` (set ``TORCHINDUCTOR_CACHE_DIR`` to move it), so a second process pays
    only the cache look-up. Heads other than the camera trunk stay eager (their chunked loops break graphs).
    """
    cache = compile_cache_dir()
    os.environ.setdefault(COMPILE_CACHE_ENV, str(cache))
    cache.mkdir(parents=True, exist_ok=True)
    import torch._inductor.config as inductor_config  # noqa: PLC0415 - heavy, only when compiling

    inductor_config.fx_graph_cache = True
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    for block in blocks:
        block.compile()
    log.info("compile: %d blocks, cache %s", len(blocks), cache)
    return model
