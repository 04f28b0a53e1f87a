"""Small helpers shared by the metric modules: numpy conversion and shape checks."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float64(x: Any, name: str) -> np.ndarray:
    """A numpy float64 copy of ``x`` (numpy array, torch tensor on any device, or nested lists)."""
    if x is None:
        raise ValueError(f"{name} is None")
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().to("cpu").double().numpy()
    return np.asarray(x, dtype=np.float64)


def as_bool(x: Any, name: str) -> np.ndarray:
    """A numpy bool array from numpy/torch/list input."""
    if x is None:
        raise ValueError(f"{name} is None")
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").numpy()
    return np.asarray(x).astype(bool)


def check_last_dims(x: np.ndarray, name: str, dims: tuple[int, ...]) -> None:
    """Raise a one-line error when the trailing dimensions of ``x`` are not ``dims``."""
    if x.ndim < len(dims) or tuple(x.shape[-len(dims) :]) != dims:
        raise ValueError(f"{name} must have shape [..., {', '.join(map(str, dims))}], got {x.shape}")
