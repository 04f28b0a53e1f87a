"""int8 inference on the CPU: int8 weights and dynamically quantised int8 activations in the linear layers.

:func:`quantize_int8` replaces every ``nn.Linear`` (our :class:`openvggt.layers.Linear` included) of the aggregator
and of the heads by :class:`Int8Linear`; convolutions, norms, attention (``q @ k^T``, softmax, ``@ v``) and
everything else keep running in fp32. ``Predictor(dtype="int8")`` / ``--dtype int8`` is the user-facing switch.

Kernels: PyTorch's own dynamic quantised linear (``torch.ops.quantized.linear_dynamic``, the kernel behind
``torch.ao.nn.quantized.dynamic.Linear``, which :class:`Int8Linear` extends). ``quantize_dynamic`` is not used:
its ``from_float`` accepts only the exact ``nn.Linear`` type (not our subclass) and it swaps modules without
freeing memory between layers; our swap loop is a few lines and keeps the peak at the bf16 model plus a few
layers. The activation of each call is quantised per tensor (uint8, range measured on the fly) and the weight per
output channel (symmetric int8). The engine is chosen by capability (:func:`openvggt.runtime.int8_engine`):
oneDNN where the CPU has VNNI or AMX int8 and oneDNN may use it, fbgemm otherwise.

Why these kernels and not torchao: on one ``[1564 x 1024] @ [1024 x 4096]`` layer, 1 thread, this project's
Intel Xeon (AMX), torch 2.13: oneDNN int8 1,460-1,770 GOP/s, fbgemm 340-590 GOP/s, fp32 210 GFLOP/s; torchao 0.18's
``Int8DynamicActivationInt8WeightConfig`` in eager mode 237 GOP/s (its fast CPU path needs ``torch.compile``), and
it would be a new dependency. The torch.ao eager API is marked deprecated in favour of torchao but is present and
working in torch 2.13; its deprecation warnings are silenced here, and if a later torch removes it
:func:`quantize_int8` raises a :class:`~openvggt.errors.UserError` that says so.

Accuracy: without VNNI the int8 kernels saturate 16-bit intermediate sums unless activations use 7 bits
(``reduce_range``); fbgemm always gets 7-bit activations, oneDNN 8-bit ones only where it can use VNNI/AMX int8
(:func:`openvggt.runtime.int8_reduce_range`, passed in by the ``Predictor``).
Measured costs are in ``docs/benchmarks.md``.

Memory: the packed int8 weight (plus the int8 copy the engines keep for unpacking) replaces the float weight;
float weights are freed layer by layer, so quantising a model loaded in bf16 never holds an fp32 copy of it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from openvggt.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["Int8Linear", "count_int8_linears", "int8_engines", "quantize_int8"]

# Layers this small cost nothing and lose the most from quantisation (pose embedding, visibility logits).
MIN_FEATURES = 32
# Modules kept in float by default: the camera head reads S tokens (not S x P), so it costs nothing, and int8
# there doubled the camera difference of the parity model to fp32 (1.7 -> 3.0 degrees; depth 0.0006 % either way).
FLOAT_MODULES = ("camera_head",)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch.ao's deprecation warnings (the API works in torch 2.13; see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor, torch\.quantize_per_channel.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        yield


with _quiet():
    import torch.ao.nn.quantized.dynamic as nnqd


def _release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise: measured 5.2 GB resident after quantising
    VGGT-1B, 2.9 GB after the trim). A no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - musl, macOS, Windows
        pass


def int8_engines() -> tuple[str, ...]:
    """The quantised CPU engines of this torch build that :func:`quantize_int8` can use."""
    return tuple(e for e in ("onednn", "fbgemm") if e in torch.backends.quantized.supported_engines)


class Int8Linear(nnqd.Linear):
    """int8 weight (symmetric, per output channel), activations quantised per call (uint8, per tensor)."""

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: torch.dtype = torch.qint8):
        super().__init__(in_features, out_features, bias_, dtype=dtype)
        # 7-bit activations for fbgemm (its AVX2 kernels saturate 16-bit sums otherwise), 8-bit for oneDNN.
        self.reduce_range = torch.backends.quantized.engine != "onednn"

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False) -> Int8Linear:  # noqa: ARG003
        """An int8 copy of any ``nn.Linear`` (subclasses included, unlike the torch.ao original)."""
        if not isinstance(mod, nn.Linear):
            raise TypeError(f"Int8Linear.from_float needs an nn.Linear, got {type(mod).__name__}")
        with _quiet(), torch.no_grad():
            weight = mod.weight.detach().float()  # [out, in]
            # max |w| per row without materialising |w|, then the integers computed in place (load time, 1B model)
            scale = torch.linalg.vector_norm(weight, ord=float("inf"), dim=1).clamp_min(1e-12) / 127.0  # [out]
            ints = weight.div(scale[:, None]).round_().clamp_(-127, 127).to(torch.int8)  # [out, in]
            zero = torch.zeros(scale.shape, dtype=torch.int64)
            # Assembled from the integers: torch.quantize_per_channel took 6.9 s of a VGGT-1B load (AVX2 EPYC).
            qweight = torch._make_per_channel_quantized_tensor(ints, scale.double(), zero, 0)
            # Built 1x1, then given the real weight: the constructor packs a zero weight of the full size twice
            # (its own default, then set_weight_bias), each as slow as the real one (~3.6 s of the same load).
            qlinear = cls(1, 1, dtype=torch.qint8)
            qlinear.in_features, qlinear.out_features = mod.in_features, mod.out_features
            qlinear.set_weight_bias(qweight, None if mod.bias is None else mod.bias.detach().float())
        return qlinear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic(x.float(), self._packed_params._packed_params, self.reduce_range)
        return y.to(x.dtype)

    def _get_name(self) -> str:
        return "Int8Linear"


def _skipped(model: nn.Module, min_features: int) -> set[str]:
    """Linear layers left in float: too small to matter, or owned by an ``nn.MultiheadAttention``-like module."""
    skip = set()
    for name, module in model.named_modules():
        if hasattr(module, "in_proj_weight"):  # reads its out_proj's weight directly
            skip.update(f"{name}.{child}" if name else child for child, _ in module.named_modules() if child)
        elif isinstance(module, nn.Linear) and min(module.in_features, module.out_features) < min_features:
            skip.add(name)
    return skip


def quantize_int8(
    model: nn.Module,
    *,
    engine: str | None = None,
    reduce_range: bool | None = None,
    min_features: int = MIN_FEATURES,
    skip: tuple[str, ...] = FLOAT_MODULES,
) -> nn.Module:
    """Replace the linear layers of ``model`` (in place) by :class:`Int8Linear`; returns ``model`` in fp32 eval mode.

    ``engine``: ``"onednn"``/``"fbgemm"`` (default: the process's ``torch.backends.quantized.engine``;
    :class:`~openvggt.predictor.Predictor` passes :func:`openvggt.runtime.int8_engine`); it is set globally
    (``torch.backends.quantized.engine``), as the packed weights belong to the engine that packed them.
    ``reduce_range``: 7-bit activations (default: for fbgemm only; :func:`openvggt.runtime.int8_reduce_range`
    decides it from the CPU, as oneDNN without VNNI saturates too).
    A model loaded in bf16 is quantised from its bf16 weights and its remaining float parts are cast to fp32.
    """
    if next(model.parameters()).device.type != "cpu":
        raise UserError("dtype int8 runs on the CPU only")
    engine = engine or torch.backends.quantized.engine
    if engine not in int8_engines():
        raise UserError(f"int8 engine {engine!r} is not available in this torch build (it has {int8_engines()})")
    torch.backends.quantized.engine = engine
    kept = _skipped(model, min_features)
    targets = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name not in kept and not any(name.startswith(f"{p}.") for p in skip)
    ]
    for i, name in enumerate(targets):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        qlinear = Int8Linear.from_float(getattr(parent, child))
        if reduce_range is not None:
            qlinear.reduce_range = reduce_range
        setattr(parent, child, qlinear)  # the float layer is freed here
        if i % 16 == 15:
            _release_freed_memory()
    _release_freed_memory()
    model.float().eval()  # convolutions, norms, tokens: fp32 (a no-op for a model loaded in fp32)
    log.info("int8: %d linear layers quantised (%s); %s kept in float", len(targets), engine, ", ".join(skip) or "-")
    return model


def count_int8_linears(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if isinstance(m, Int8Linear))
