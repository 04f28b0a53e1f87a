"""openvggt: an open, fast, weight-compatible implementation of VGGT.

The public surface is imported lazily so that ``import openvggt`` stays cheap and never has side
effects (no downloads, no logging configuration).
"""

from __future__ import annotations

import importlib
from typing import Any

from openvggt._version import __version__

_EXPORTS = {
    "VGGT": "openvggt.models.vggt",
    "Predictor": "openvggt.predictor",
    "PredictorOutput": "openvggt.predictor",
    "Intermediates": "openvggt.models.vggt",
    "VGGTOutput": "openvggt.models.vggt",
    "VGGTConfig": "openvggt.models.config",
    "load_images": "openvggt.io.images",
    "pose_encoding_to_extri_intri": "openvggt.geometry",
    "extri_intri_to_pose_encoding": "openvggt.geometry",
    "unproject_depth_map_to_point_map": "openvggt.geometry",
    "quat_to_mat": "openvggt.geometry",
    "mat_to_quat": "openvggt.geometry",
    "closed_form_inverse_se3": "openvggt.geometry",
    "reconstruct": "openvggt.pipeline.reconstruct",
    "Reconstruction": "openvggt.pipeline.reconstruct",
    "track_points": "openvggt.pipeline.track",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openvggt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
