"""VGGT as an evaluated method: image files in, :class:`Prediction` out.

The reconstruction goes through :func:`openvggt.pipeline.reconstruct`, the code path of
``openvggt reconstruct`` (same preprocessing, cameras, confidence-filtered point cloud and, with
``ba=True``, the same track-based bundle adjustment), with one :class:`~openvggt.predictor.Predictor`
built on first use and reused for every scene.

Timing: the weights are loaded once per run (``info["load_s"]``, not part of ``time_s``);
``time_s`` covers reading and preprocessing the images, the forward pass, BA when asked for and
building the outputs in memory, as for COLMAP it covers reading images, matching and mapping.

Depth and points: the depth head's z-depth on the model's input grid (the affine from original
pixels to that grid comes from the image loader; 0 outside the image's footprint), and the
point cloud that ``reconstruct`` writes (depth unprojected with the final cameras, confidence
filtered).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openvggt.eval.prediction import Prediction
from openvggt.models.vggt import VGGT
from openvggt.pipeline.inference import load_predictor
from openvggt.pipeline.reconstruct import CAMERA_SOURCES, ReconstructOptions, reconstruct, resolve_cameras
from openvggt.predictor import Predictor
from openvggt.runtime import DTYPE_NAMES

log = logging.getLogger(__name__)

__all__ = ["VggtOptions", "VggtMethod"]


@dataclass(frozen=True)
class VggtOptions:
    """``weights``: file, folder, hub id, or ``"default"`` (the shipped model); ``dtype``: precision of the
    forward pass (see :mod:`openvggt.runtime`); ``ba``: refine with bundle adjustment; ``size``: input width
    in pixels (a multiple of 14; ``None``: the model's ``img_size``, 518)."""

    weights: str = "default"
    ba: bool = False
    device: str = "auto"
    dtype: str = "auto"
    mode: str = "crop"
    size: int | None = None
    cameras: str = "auto"  # as `openvggt reconstruct --cameras`: auto, head or matches

    def __post_init__(self) -> None:
        if self.cameras not in CAMERA_SOURCES:
            raise ValueError(f"cameras must be one of {CAMERA_SOURCES}, got {self.cameras!r}")
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype must be one of {DTYPE_NAMES}, got {self.dtype!r}")
        if self.size is not None and (self.size < 14 or self.size % 14):
            raise ValueError(f"size must be a positive multiple of 14, got {self.size}")


def _reconstruct(predictor: Predictor, paths: Sequence[Path], options: VggtOptions, cameras: str) -> dict:
    """Run VGGT on image files: ``{"extrinsics" [S, 3, 4] float64, "depth" [S, H, W], "affines" S x [3, 3]
    original -> input pixels, "points" [N, 3], "info"}``; world frame = first camera (OpenCV, w2c). ``cameras``:
    head or matches (``auto`` resolved by the caller, which knows whether the weights are the shipped ones)."""
    opts = ReconstructOptions(mode=options.mode, size=options.size, ba=options.ba, cameras=cameras)
    rec = reconstruct([str(p) for p in paths], predictor=predictor, options=opts)
    return {
        "extrinsics": np.asarray(rec.extrinsics, np.float64),
        "depth": np.asarray(rec.depth, np.float32),
        "affines": [m.affine() for m in rec.metas],
        "points": np.asarray(rec.points, np.float64),
        "info": {
            "path": "openvggt.pipeline.reconstruct",
            "stages_s": {k: round(float(v), 3) for k, v in rec.timings.items()},
            "ba_skipped": rec.ba_skipped,
            "cameras": rec.camera_solve.summary() if rec.camera_solve is not None else {"source": "camera head"},
        },
    }


class VggtMethod:
    """Callable ``(image paths) -> Prediction`` that loads the weights once, on first use."""

    name = "vggt"

    def __init__(self, options: VggtOptions = VggtOptions(), model: VGGT | None = None) -> None:
        self.options = options
        self._model = model
        self._predictor: Predictor | None = None
        self.load_s = 0.0

    @property
    def cameras(self) -> str:
        """``head`` or ``matches``: ``auto`` is matches for the shipped default weights, as in ``reconstruct``."""
        return resolve_cameras(self.options.cameras, None if self._model is not None else self.options.weights)

    @property
    def predictor(self) -> Predictor:
        """Built on first use (weights loaded once for every scene)."""
        if self._predictor is None:
            start = time.perf_counter()
            o = self.options
            heads = ("camera", "depth", "track") if o.ba else ("camera", "depth")
            self._predictor = load_predictor(
                o.weights, heads, model=self._model, device=o.device, dtype=o.dtype, mode=o.mode, size=o.size
            )
            self.load_s = time.perf_counter() - start
        return self._predictor

    def __call__(self, image_paths: Sequence[str | Path], work_dir: Path | None = None) -> Prediction:
        """Cameras, depth and points for ``S`` images (``work_dir`` is unused: nothing is written)."""
        predictor = self.predictor
        start = time.perf_counter()
        rec = _reconstruct(predictor, [Path(p) for p in image_paths], self.options, self.cameras)
        elapsed = time.perf_counter() - start
        s = rec["extrinsics"].shape[0]
        return Prediction(
            extrinsics=rec["extrinsics"],
            registered=np.ones(s, bool),
            time_s=elapsed,
            depth=tuple(rec["depth"]),
            depth_from_original=tuple(rec["affines"]),
            points=rec["points"],
            info={
                "weights": str(self.options.weights),
                "load_s": round(self.load_s, 3),
                "dtype": predictor.dtype,
                "device": str(predictor.device),
                "ba": self.options.ba,
                "input_hw": list(rec["depth"].shape[1:]),
                **rec["info"],
            },
        )
