"""``nn.Linear`` that keeps a low-precision copy of its weight for inference under autocast.

Under ``torch.autocast`` every call of a plain ``nn.Linear`` converts its fp32 weight to the
autocast dtype. For VGGT-1B that is ~5 GB read and ~2.5 GB written per forward pass, which on a CPU
costs as much as a good fraction of the matrix products themselves. When no gradient is needed we
convert once and reuse the copy until the weight changes (tracked by its version counter).
Shape legend (docs/architecture.md): ``[..., C_in] -> [..., C_out]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Linear(nn.Linear):
    # Device types for which the cached low-precision copy is used (CUDA casts are cheap enough).
    cache_device_types: tuple[str, ...] = ("cpu",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device_type = x.device.type
        if (
            device_type in self.cache_device_types
            and torch.is_autocast_enabled(device_type)
            and not (torch.is_grad_enabled() and self.weight.requires_grad)
            and not torch.compiler.is_compiling()  # a compiled graph casts (or fuses) itself; no guard churn
        ):
            dtype = torch.get_autocast_dtype(device_type)
            weight, bias = self._cast_params(dtype)
            return F.linear(x.to(dtype), weight, bias)
        return super().forward(x)

    def _cast_params(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        bias_version = None if self.bias is None else self.bias._version
        key = (dtype, self.weight.data_ptr(), self.weight._version, bias_version)
        cache = getattr(self, "_cast_cache", None)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                weight = self.weight.to(dtype)
                bias = None if self.bias is None else self.bias.to(dtype)
            cache = (key, weight, bias)
            # Plain attribute, not a buffer: never part of the state dict.
            object.__setattr__(self, "_cast_cache", cache)
        return cache[1], cache[2]

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch signature
        object.__setattr__(self, "_cast_cache", None)
        return super()._apply(fn, recurse)


def drop_cast_caches(module: nn.Module) -> None:
    """Free every cached low-precision weight copy below ``module``."""
    for m in module.modules():
        if isinstance(m, Linear):
            object.__setattr__(m, "_cast_cache", None)
