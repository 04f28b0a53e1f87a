"""Shared test helpers: where ../shared lives, and fixture loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
