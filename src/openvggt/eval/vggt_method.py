"""VGGT as an evaluated method: image files in, :class:`Prediction` out.

The reconstruction goes through :func:`openvggt.pipeline.reconstruct`, the code path of
``openvggt reconstruct`` (same preprocessing, cameras, confidence-filtered point cloud and, with
``ba=True``, the same track-based bundle adjustment), with the model loaded once and passed in.
If the pipeline is not installed, :func:`_reconstruct_direct` calls the model the same way the
pipeline does without BA (official preprocessing, last camera iteration, depth head), and
``ba=True`` is refused; ``info["path"]`` records which path ran.

Timing: the weights are loaded once per run (``info["load_s"]``, not part of ``time_s``);
``time_s`` covers reading and preprocessing the images, the forward pass, BA when asked for and
building the outputs in memory, as for COLMAP it covers reading images, matching and mapping.

Depth and points: the depth head's z-depth on the model's input grid (the affine from original
pixels to that grid comes from the image loader; 0 outside the image's footprint), and the
point cloud that ``reconstruct`` writes (depth unprojected with the final cameras, confidence
filtered); the direct path keeps every valid pixel.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openvggt.eval.prediction import Prediction

log = logging.getLogger(__name__)

__all__ = ["VggtOptions", "VggtMethod", "MethodUnavailable", "check_options"]

DTYPE_NAMES = ("fp32", "bf16", "fp16")


class MethodUnavailable(RuntimeError):
    """The method cannot run with the requested options in this install (message says why)."""


@dataclass(frozen=True)
class VggtOptions:
    """``weights``: file, folder, hub id, or ``"default"`` (the shipped model); ``dtype``: autocast
    precision of the forward pass; ``ba``: refine with bundle adjustment (pipeline needed);
    ``size``: input width in pixels (a multiple of 14; ``None``: the model's ``img_size``, 518)."""

    weights: str = "default"
    ba: bool = False
    device: str = "auto"
    dtype: str = "fp32"
    mode: str = "crop"
    size: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype must be one of {DTYPE_NAMES}, got {self.dtype!r}")
        if self.size is not None and (self.size < 14 or self.size % 14):
            raise ValueError(f"size must be a positive multiple of 14, got {self.size}")


def _pipeline_available() -> bool:
    try:
        import openvggt.pipeline.reconstruct  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def check_options(options: VggtOptions) -> None:
    """Raise :class:`MethodUnavailable` when this install cannot run ``options``."""
    if options.ba and not _pipeline_available():
        raise MethodUnavailable(
            "--ba needs the reconstruction pipeline's bundle adjustment (openvggt.pipeline), not available here"
        )


def _device(name: str) -> str:
    """``"auto"``: CUDA when available, else CPU; other names unchanged."""
    if name != "auto":
        return name
    import torch  # noqa: PLC0415

    return "cuda" if torch.cuda.is_available() else "cpu"


def _autocast(device: str, dtype: str):  # noqa: ANN202
    import torch  # noqa: PLC0415

    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, {"bf16": "bfloat16"}.get(dtype, "float16")))


def _unproject(depth: np.ndarray, extrinsics: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``[N, 3]`` world points of the positive, finite pixels of ``[S, H, W]`` depth."""
    from openvggt.geometry import unproject_depth_map_to_point_map  # noqa: PLC0415

    world = unproject_depth_map_to_point_map(depth, extrinsics, intrinsics, cam_dtype=None)  # [S, H, W, 3]
    keep = np.isfinite(depth) & (depth > 0) & np.isfinite(world).all(-1)
    return world[keep]


def _reconstruct_pipeline(model, paths: Sequence[Path], options: VggtOptions) -> dict:  # noqa: ANN001
    """``openvggt reconstruct`` on the images with a loaded model (see :func:`_reconstruct`)."""
    from openvggt.pipeline.reconstruct import ReconstructOptions, reconstruct  # noqa: PLC0415

    opts = ReconstructOptions(
        mode=options.mode, size=options.size, device=options.device, dtype=options.dtype, ba=options.ba
    )
    rec = reconstruct([str(p) for p in paths], model=model, options=opts)
    return {
        "extrinsics": np.asarray(rec.extrinsics, np.float64),
        "depth": np.asarray(rec.depth, np.float32),
        "affines": [m.affine() for m in rec.metas],
        "points": np.asarray(rec.points, np.float64),
        "info": {
            "path": "openvggt.pipeline.reconstruct",
            "stages_s": {k: round(float(v), 3) for k, v in rec.timings.items()},
            "ba_skipped": rec.ba_skipped,
        },
    }


def _reconstruct_direct(model, paths: Sequence[Path], options: VggtOptions) -> dict:  # noqa: ANN001
    """The model alone: official preprocessing, last camera iteration, depth head, every valid pixel."""
    import torch  # noqa: PLC0415

    from openvggt.geometry import pose_encoding_to_extri_intri  # noqa: PLC0415
    from openvggt.io.images import load_images  # noqa: PLC0415

    check_options(options)
    images, metas = load_images(
        list(paths), mode=options.mode, size=options.size or model.config.img_size, return_meta=True
    )
    device = _device(options.device)
    images = images.to(device)
    with torch.inference_mode(), _autocast(device, options.dtype):
        out = model(images, heads=("camera", "depth"))
    extrinsics, intrinsics = pose_encoding_to_extri_intri(out.pose_enc.float(), tuple(images.shape[-2:]))
    extrinsics = extrinsics[0].double().cpu().numpy()
    depth = out.depth[0, ..., 0].float().cpu().numpy()
    return {
        "extrinsics": extrinsics,
        "depth": depth,
        "affines": [m.affine() for m in metas],
        "points": _unproject(depth, extrinsics, intrinsics[0].double().cpu().numpy()),
        "info": {"path": "model-direct (openvggt.pipeline not installed)"},
    }


def _reconstruct(model, paths: Sequence[Path], options: VggtOptions) -> dict:  # noqa: ANN001
    """Run VGGT on image files: ``{"extrinsics" [S, 3, 4] float64, "depth" [S, H, W], "affines" S x [3, 3]
    original -> input pixels, "points" [N, 3], "info"}``; world frame = first camera (OpenCV, w2c)."""
    if _pipeline_available():
        return _reconstruct_pipeline(model, paths, options)
    return _reconstruct_direct(model, paths, options)


class VggtMethod:
    """Callable ``(image paths) -> Prediction`` that loads the weights once, on first use."""

    name = "vggt"

    def __init__(self, options: VggtOptions = VggtOptions(), model=None) -> None:  # noqa: ANN001
        self.options = options
        self._model = model
        self.load_s = 0.0

    @property
    def model(self):  # noqa: ANN201
        if self._model is None:
            from openvggt.io.checkpoint import load_model  # noqa: PLC0415

            start = time.perf_counter()
            heads = ("camera", "depth", "track") if self.options.ba else ("camera", "depth")
            self._model = load_model(self.options.weights, device=_device(self.options.device), heads=heads)
            self.load_s = time.perf_counter() - start
        return self._model

    def __call__(self, image_paths: Sequence[str | Path], work_dir: Path | None = None) -> Prediction:
        """Cameras, depth and points for ``S`` images (``work_dir`` is unused: nothing is written)."""
        model = self.model
        start = time.perf_counter()
        rec = _reconstruct(model, [Path(p) for p in image_paths], self.options)
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
                "dtype": self.options.dtype,
                "device": _device(self.options.device),
                "ba": self.options.ba,
                "input_hw": list(rec["depth"].shape[1:]),
                **rec["info"],
            },
        )
