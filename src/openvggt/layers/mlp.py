"""Two-layer perceptron with exact (erf) GELU: ``fc2(gelu(fc1(x)))``.

Shape legend (docs/architecture.md): ``[..., C]`` in, ``[..., C_out]`` out.
"""

from __future__ import annotations

import torch
from torch import nn

from openvggt.layers.linear import Linear


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None, bias: bool = True):
        super().__init__()
        self.fc1 = Linear(in_features, hidden_features, bias=bias)
        self.act = nn.GELU()
        self.fc2 = Linear(hidden_features, out_features or in_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))
