"""Writing a reconstruction to a folder, atomically.

Everything is written into a hidden temporary folder beside ``DIR`` and renamed to ``DIR`` at the
end, so a failed or interrupted run leaves no half-written ``DIR`` (and an existing ``DIR`` is only
replaced, with ``overwrite``, once the new one is complete). Layout of ``DIR``::

    images/<name>              the input images (EXIF-rotated ones stored upright)
    sparse/0/{cameras,images,points3D}.bin   COLMAP model, original resolution
    points.ply                 coloured, confidence-filtered point cloud (+ "confidence" field)
    scene.glb                  points + camera frustums (glTF y-up: see openvggt.io.glb)
    depth/<stem>.npy           float32 z-depth over the part of the image the model saw, model resolution
    depth/<stem>.png           the same as 16-bit PNG: depth = value / depth_scale, 0 = no depth
    depth/<stem>_conf.npy      float32 depth confidence (>= 1)
    depth/meta.json            depth_scale and, per image, the original-pixel box each map covers
    predictions.npz            raw model outputs and final cameras (see save_predictions)
    transforms.json            nerfstudio cameras (OpenGL camera-to-world), ply_file_path points.ply
    run.json                   settings, timings, bundle adjustment and reference scores, versions
    report.html                a self-contained page with thumbnails, depth, trajectory and timings
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from openvggt._version import __version__
from openvggt.errors import OutputExistsError
from openvggt.io.colmap import write_model
from openvggt.io.glb import write_glb
from openvggt.io.images import load_image_rgb
from openvggt.io.nerfstudio import write_transforms
from openvggt.io.ply import write_ply
from openvggt.models.pretrained import DEFAULT_MODEL_CAVEAT, is_default_weights
from openvggt.pipeline.report import write_report

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- atomic folder
def check_output_dir(out: Path, overwrite: bool) -> None:
    """Fail early (before any work) when ``out`` may not be written."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")


@contextlib.contextmanager
def atomic_dir(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` on success and is deleted on any failure."""
    out = Path(os.path.abspath(out))
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.partial"  # beside out: the rename stays atomic
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            check_output_dir(out, overwrite)
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------- pieces
def write_images(frames, metas, folder: Path) -> None:  # noqa: ANN001
    """Input images into ``folder`` under their names; EXIF-rotated ones re-encoded upright."""
    for frame, meta in tqdm(list(zip(frames, metas)), desc="copying images", unit="image", disable=None):
        dst = folder / frame.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if frame.image is not None:
            frame.image.save(dst)
        elif frame.data is not None:
            dst.write_bytes(frame.data)
        elif meta.exif_orientation != 1 or _exif_rotated(frame.path):
            image = load_image_rgb(frame.path)  # upright, so that its size matches the COLMAP camera
            image.save(dst, quality=95) if dst.suffix.lower() in (".jpg", ".jpeg") else image.save(dst)
        else:
            shutil.copyfile(frame.path, dst)


def _exif_rotated(path: Path) -> bool:
    with Image.open(path) as image:
        return int(image.getexif().get(0x0112, 1) or 1) != 1


def depth_keys(names: list[str]) -> list[str]:
    """File stem for each image's depth maps: the name without its suffix, unless two would clash."""
    stems = [str(Path(n).with_suffix("")) for n in names]
    return stems if len(set(stems)) == len(stems) else list(names)


def write_depth_files(base: Path, depth: np.ndarray, conf: np.ndarray, scale: float) -> np.ndarray:
    """``base.npy`` (float32 depth), ``base_conf.npy`` and ``base.png`` (uint16, depth = value / scale); returns the
    float32 depth written."""
    d, c = depth.astype(np.float32), conf.astype(np.float32)
    base.parent.mkdir(parents=True, exist_ok=True)
    np.save(f"{base}.npy", d)
    np.save(f"{base}_conf.npy", c)
    Image.fromarray(np.clip(np.round(np.nan_to_num(d) * scale), 0, 65535).astype(np.uint16)).save(f"{base}.png")
    return d


def save_depth(rec, folder: Path) -> dict:  # noqa: ANN001
    """Depth maps (npy + 16-bit png) and confidence, cropped to each image's footprint; returns the meta."""
    valid_depth = rec.depth[rec.valid & np.isfinite(rec.depth) & (rec.depth > 0)]
    top = float(valid_depth.max()) if valid_depth.size else 1.0
    scale = 65535.0 / top  # depth = png / scale
    meta = {
        "depth_scale": scale,
        "png": "uint16, depth = value / depth_scale, 0 = no depth",
        "units": "VGGT's normalised scene units (the first camera at the origin), the same as the cameras",
        "images": {},
    }
    for key, name, m, depth, conf in tqdm(
        list(zip(depth_keys(rec.names), rec.names, rec.metas, rec.depth, rec.depth_conf)),
        desc="writing depth", unit="image", disable=None,
    ):  # fmt: skip
        left, top_px, right, bottom = m.footprint()
        d = write_depth_files(folder / key, depth[top_px:bottom, left:right], conf[top_px:bottom, left:right], scale)
        box = m.model_to_original(np.array([[left, top_px], [right, bottom]], dtype=np.float64))
        meta["images"][name] = {
            "depth": f"{key}.npy",
            "size": [int(d.shape[1]), int(d.shape[0])],
            "original_box": [float(v) for v in box.reshape(-1)],  # x0, y0, x1, y1 original pixels, corner origin
        }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def save_predictions(rec, path: Path) -> None:  # noqa: ANN001
    """``predictions.npz``: raw outputs under their official names plus final and predicted cameras."""
    arrays = {
        "images": rec.images,  # [S, H, W, 3] uint8 model input
        "pose_enc": rec.pose_enc,
        "depth": rec.depth[..., None],
        "depth_conf": rec.depth_conf,
        "extrinsic": rec.extrinsics,
        "intrinsic": rec.intrinsics_model,
        "intrinsic_original": rec.intrinsics,
        "extrinsic_pred": rec.extrinsics_pred,
        "intrinsic_pred_original": rec.intrinsics_pred,
        "valid_mask": rec.valid,
        "names": np.array(rec.names),
        "original_size": np.array(rec.sizes),
        "model_from_original": np.stack([m.affine() for m in rec.metas]),
    }
    if rec.world_points is not None:
        arrays["world_points"], arrays["world_points_conf"] = rec.world_points, rec.world_points_conf
    if rec.tracks is not None:
        t = rec.tracks
        arrays |= {"track": t.xy, "vis": t.vis, "conf": t.conf, "track_query_frame": t.query_frame}
    np.savez_compressed(path, **arrays)


def run_summary(rec) -> dict:  # noqa: ANN001
    options = asdict(rec.options)
    return {
        "openvggt": __version__,
        "torch": torch.__version__,
        "weights": rec.weights,
        "caveat": DEFAULT_MODEL_CAVEAT if is_default_weights(rec.weights) else None,
        "options": options,
        "images": [
            {
                "name": n,
                "source": f.source,
                "original_size": list(m.original_size),
                "model_size": list(m.model_size),
                "meta": asdict(m),
            }
            for n, f, m in zip(rec.names, rec.frames, rec.metas)
        ],
        "points": int(len(rec.points)),
        "sparse_points": rec.colmap.num_points,
        "cameras": rec.camera_solve.summary() if rec.camera_solve is not None else {"source": "camera head"},
        "bundle_adjustment": _ba_summary(rec),
        "reference": rec.reference,
        "timings_s": {k: round(v, 3) for k, v in rec.timings.items()},
    }


def _ba_summary(rec) -> dict | None:  # noqa: ANN001
    if rec.ba is not None:
        return rec.ba.summary()
    return {"skipped": rec.ba_skipped} if rec.options.ba else None


# ---------------------------------------------------------------------------------------------- all of it
def save_reconstruction(rec, out: Path, overwrite: bool = False, copy_images: bool = True) -> Path:  # noqa: ANN001
    """Write every file of the module docstring into ``out``; returns ``out``."""
    start = time.perf_counter()
    with atomic_dir(out, overwrite) as tmp:
        if copy_images:
            write_images(rec.frames, rec.metas, tmp / "images")
        write_model(rec.colmap, tmp / "sparse" / "0")
        write_ply(tmp / "points.ply", rec.points, rec.colors, {"confidence": rec.points_conf})
        _write_glb(rec, tmp / "scene.glb")
        (tmp / "depth").mkdir()
        save_depth(rec, tmp / "depth")
        save_predictions(rec, tmp / "predictions.npz")
        write_transforms(
            tmp / "transforms.json", [f"images/{n}" for n in rec.names], rec.extrinsics, rec.intrinsics,
            rec.sizes, ply_file_path="points.ply",
        )  # fmt: skip
        rec.timings["write outputs"] = time.perf_counter() - start
        summary = run_summary(rec)
        start = time.perf_counter()
        write_report(rec, tmp / "report.html", summary)  # its timings table ends with the outputs
        rec.timings["report"] = time.perf_counter() - start  # in run.json and the printed total, not in the page
        summary["timings_s"]["report"] = round(rec.timings["report"], 3)
        (tmp / "run.json").write_text(json.dumps(summary, indent=1, default=str))
    log.info("wrote %s", out)
    return Path(os.path.abspath(out))


def _write_glb(rec, path: Path) -> None:  # noqa: ANN001
    limit = 500_000  # keep the file light enough for web viewers
    idx = np.arange(len(rec.points))
    if len(idx) > limit:
        idx = np.sort(np.random.default_rng(0).choice(idx, limit, replace=False))
    write_glb(path, rec.points[idx], rec.colors[idx], rec.extrinsics, rec.intrinsics, rec.sizes)
