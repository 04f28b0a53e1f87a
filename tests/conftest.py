"""Shared test helpers: where ../shared lives, and fixture loading."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OPENVGGT_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared; skips locally when it is absent, fails in CI where it must exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(f"CI needs {path}")
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return shared_path("fixtures", "parity_tiny")


def rel_err(ours, ref) -> float:
    """max |ours - ref| / max |ref|, the fixtures' agreement measure."""
    ours = ours.double() if hasattr(ours, "double") else ours
    ref = ref.double() if hasattr(ref, "double") else ref
    return float((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-300))


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny models' ops are too small to gain from threads, and on a busy machine intra-op threads spin
    against other processes (measured: 0.2 s with one thread, 2-15 s with two). Packages of tiny-model
    tests wrap themselves in this (an autouse package fixture in their conftest)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
