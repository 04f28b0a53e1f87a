"""Data: synthetic scenes with exact ground truth, scene readers, and the training-sample pipeline.

* :mod:`~openvggt.data.synth.synthetic` — ``generate_scene``, ``write_scene``, ``generate`` (ray caster in
  :mod:`~openvggt.data.synth.render`, layouts in :mod:`~openvggt.data.synth.families`);
* :mod:`~openvggt.data.readers` — ``read_scene`` for cameras.json, COLMAP and TUM RGB-D folders,
  returning a :class:`~openvggt.data.scene.Scene`;
* :mod:`~openvggt.data.sample` — ``SampleConfig``, ``build_sample`` (normalised §9.4 dicts);
* :mod:`~openvggt.data.dataset` — ``SceneDataset``, ``DynamicBatchSampler``, ``seed_worker``.

Names are imported lazily so ``import openvggt.data`` stays cheap (no scikit-image/OpenCV loads).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Scene": "openvggt.data.scene",
    "SceneError": "openvggt.data.scene",
    "read_scene": "openvggt.data.readers",
    "read_cameras_json": "openvggt.data.readers",
    "read_colmap": "openvggt.data.readers",
    "read_tum": "openvggt.data.readers",
    "SynthConfig": "openvggt.data.synth.synthetic",
    "generate_scene": "openvggt.data.synth.synthetic",
    "write_scene": "openvggt.data.synth.synthetic",
    "generate": "openvggt.data.synth.synthetic",
    "SampleConfig": "openvggt.data.sample",
    "build_sample": "openvggt.data.sample",
    "SceneDataset": "openvggt.data.dataset",
    "SyntheticScenes": "openvggt.data.dataset",
    "DynamicBatchSampler": "openvggt.data.dataset",
    "SampleIndex": "openvggt.data.dataset",
    "scene_folders": "openvggt.data.dataset",
    "seed_worker": "openvggt.data.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openvggt.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
