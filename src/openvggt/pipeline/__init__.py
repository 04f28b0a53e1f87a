"""User-facing jobs: ``reconstruct`` (cameras, depth, points, COLMAP model) and ``track_points``.

Imported lazily so that ``import openvggt.pipeline`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "reconstruct": "openvggt.pipeline.reconstruct",
    "Reconstruction": "openvggt.pipeline.reconstruct",
    "ReconstructOptions": "openvggt.pipeline.reconstruct",
    "BAOptions": "openvggt.pipeline.ba",
    "track_points": "openvggt.pipeline.track",
    "TrackResult": "openvggt.pipeline.track",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openvggt.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
