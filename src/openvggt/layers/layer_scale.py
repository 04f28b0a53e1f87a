"""LayerScale: a learned per-channel gain on a residual branch.

Kept as a separate fp32 multiply (never folded into the preceding projection) so that under bf16
autocast the residual stream stays fp32, as in the official model.
Shape legend (docs/architecture.md): elementwise over the last dim ``[..., C]``.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
