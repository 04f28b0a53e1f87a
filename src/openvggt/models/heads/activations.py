"""Output activations shared by the heads (names follow the official configuration strings).

Shape legend (docs/architecture.md): elementwise: any shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def inverse_log(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * (exp(|x|) - 1)``: maps a log-compressed coordinate back to linear scale."""
    return torch.sign(x) * torch.expm1(x.abs())


def activate(x: torch.Tensor, name: str) -> torch.Tensor:
    """Value activation by name (``exp``, ``inv_log``, ``norm_exp``, ``norm``, ``relu``, ...)."""
    if name == "linear":
        return x
    if name == "exp":
        return torch.exp(x)
    if name == "inv_log":
        return inverse_log(x)
    if name == "relu":
        return F.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "norm":
        return x / x.norm(dim=-1, keepdim=True)
    if name == "norm_exp":
        d = x.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        return x / d * torch.expm1(d)
    if name == "xy_inv_log":
        xy, z = x.split([2, 1], dim=-1)
        z = inverse_log(z)
        return torch.cat([xy * z, z], dim=-1)
    raise ValueError(f"unknown activation {name!r}")


def activate_conf(c: torch.Tensor, name: str) -> torch.Tensor:
    """Confidence activation: ``expp1`` = 1 + exp, ``expp0`` = exp, ``sigmoid``."""
    if name == "expp1":
        return 1 + c.exp()
    if name == "expp0":
        return c.exp()
    if name == "sigmoid":
        return torch.sigmoid(c)
    raise ValueError(f"unknown confidence activation {name!r}")
