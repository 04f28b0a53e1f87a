"""Readers that turn a scene folder into a :class:`openvggt.data.scene.Scene`.

Supported layouts (``read_scene`` picks one by the files present):

* ``cameras.json`` (the ``../shared/scenes`` schema, also written by the synthetic engine):
  ``frames[i] = {file, width, height, K, R, t}``; depth from ``frames[i]["depth"]`` when given (``.npy`` in
  metres, or an integer PNG in units of ``1 / depth_scale`` m, millimetres unless the file's top-level
  ``depth_scale`` says otherwise), else ``depth/<image stem>.npy``; masks
  from ``masks/<image stem>.png`` where those exist.
* COLMAP: ``sparse/0`` (or ``sparse``) read with pycolmap, images in ``images/``; without depth
  maps, a sparse depth map per image is made from the model's 3D points it observes.
* TUM RGB-D: ``rgb.txt``, ``depth.txt``, ``groundtruth.txt``; frames are associated by nearest
  timestamps, depth PNGs are in units of 1/5000 m.

All readers return cameras in our convention: OpenCV, world-to-camera, ``K`` with pixel (u, v)'s
centre at (u, v). COLMAP puts pixel centres at +0.5, so its principal point is shifted by -0.5.
Bad scenes raise :class:`SceneError` with a message that names the offending file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from openvggt.data.scene import Scene, SceneError, image_size

log = logging.getLogger(__name__)

# TUM RGB-D factory calibrations (fx, fy, cx, cy) of the three Kinect sensors, and the ROS default.
TUM_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
    "default": (525.0, 525.0, 319.5, 239.5),
}
TUM_DEPTH_SCALE = 5000.0


def read_scene(root: str | Path) -> Scene:
    """Read a scene folder in any supported layout."""
    root = Path(root)
    if not root.is_dir():
        raise SceneError(f"{root}: scene folder does not exist")
    if (root / "cameras.json").is_file():
        return read_cameras_json(root)
    if (root / "rgb.txt").is_file():
        return read_tum(root)
    if _colmap_model_dir(root) is not None:
        return read_colmap(root)
    raise SceneError(f"{root}: no cameras.json, COLMAP sparse model or TUM rgb.txt found")


# ------------------------------------------------------------------------------- cameras.json
def _matrix(value, shape, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != shape or not np.all(np.isfinite(arr)):
        raise SceneError(f"{where} must be a finite array of shape {shape}")
    return arr


def _check_rotation(R: np.ndarray, where: str) -> np.ndarray:
    """``R`` made exactly orthonormal (tracked poses, e.g. 7-Scenes', are off by a few 1e-4); error if far off."""
    error = np.abs(R @ R.T - np.eye(3)).max()
    if error > 1e-3 or np.linalg.det(R) < 0:
        raise SceneError(f"{where} is not a rotation matrix")
    if error <= 1e-9:  # already a rotation (e.g. the synthetic engine's): keep it bit for bit
        return R
    u, _, vt = np.linalg.svd(R)
    return u @ vt


def _check_intrinsics(K: np.ndarray, where: str) -> None:
    if K[0, 0] <= 0 or K[1, 1] <= 0 or np.abs(K[2] - [0.0, 0.0, 1.0]).max() > 1e-9:
        raise SceneError(f"{where} is not a pinhole matrix (need fx, fy > 0 and last row 0 0 1)")


def _positive_int(value, where: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n <= 0 or n != value:
        raise SceneError(f"{where} must be a positive integer, got {value!r}")
    return n


def read_cameras_json(root: str | Path) -> Scene:
    """A folder with ``cameras.json`` and the images (and optional depth/masks) it names."""
    root = Path(root)
    path = root / "cameras.json"
    if not path.is_file():
        raise SceneError(f"{path}: file is missing")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SceneError(f"{path}: invalid JSON ({e})") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not frames:
        raise SceneError(f"{path}: no 'frames' list")
    Ks, Rs, ts, sizes, images, depths, masks = [], [], [], [], [], [], []
    for i, fr in enumerate(frames):
        where = f"{path}: frame {i}"
        if not isinstance(fr, dict):
            raise SceneError(f"{where} is not an object")
        missing = [k for k in ("file", "width", "height", "K", "R", "t") if k not in fr]
        if missing:
            raise SceneError(f"{where} lacks {missing}")
        Ks.append(_matrix(fr["K"], (3, 3), f"{where} K"))
        _check_intrinsics(Ks[-1], f"{where} K")
        Rs.append(_check_rotation(_matrix(fr["R"], (3, 3), f"{where} R"), f"{where} R"))
        ts.append(_matrix(fr["t"], (3,), f"{where} t"))
        size = _positive_int(fr["height"], f"{where} height"), _positive_int(fr["width"], f"{where} width")
        image = root / fr["file"]
        h, w = image_size(image)
        if (h, w) != size:
            raise SceneError(f"{image}: size {w}x{h} does not match {size[1]}x{size[0]} in {path}")
        sizes.append((h, w))
        images.append(image)
        named = root / fr["depth"] if isinstance(fr.get("depth"), str) else None
        depths.append(named if named is not None and named.is_file() else _optional_depth(root, image, (h, w)))
        mask = root / "masks" / (image.stem + ".png")
        masks.append(mask if mask.is_file() else None)
    return Scene(
        name=str(meta.get("scene", root.name)),
        K=np.stack(Ks),
        R=np.stack(Rs),
        t=np.stack(ts),
        sizes=np.array(sizes),
        images=tuple(images),
        depths=tuple(depths) if any(d is not None for d in depths) else None,
        masks=tuple(masks) if any(m is not None for m in masks) else None,
        depth_scale=float(meta.get("depth_scale", 1000.0)),  # integer depth images: millimetres by default
    )


def _optional_depth(root: Path, image: Path, hw: tuple[int, int]) -> Path | None:
    depth = root / "depth" / (image.stem + ".npy")
    if not depth.is_file():
        return None
    try:
        shape = np.load(depth, mmap_mode="r").shape
    except (OSError, ValueError) as e:
        raise SceneError(f"{depth}: cannot read depth ({e})") from None
    if tuple(shape[:2]) != hw or not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)):
        raise SceneError(f"{depth}: shape {tuple(shape)}, expected [H, W] = {hw} to match its image")
    return depth


# -------------------------------------------------------------------------------------- COLMAP
def _colmap_model_dir(root: Path) -> Path | None:
    for cand in (root / "sparse" / "0", root / "sparse", root):
        if any((cand / f"cameras.{ext}").is_file() for ext in ("bin", "txt")):
            return cand
    return None


def read_colmap(root: str | Path, images_dir: str | Path | None = None, depth_from_points: bool = True) -> Scene:
    """A COLMAP reconstruction (``sparse/0``) with its images (``images/`` unless given).

    Only registered images are kept, sorted by name. Camera models with distortion are read as
    their pinhole part (a warning says so): undistort the images first (``colmap
    image_undistorter``) for exact geometry.
    """
    import pycolmap  # noqa: PLC0415 (optional dependency, imported on use)

    root = Path(root)
    model = _colmap_model_dir(root)
    if model is None:
        raise SceneError(f"{root}: no COLMAP model (cameras.bin/.txt in sparse/0, sparse or the folder)")
    images_dir = Path(images_dir) if images_dir is not None else root / "images"
    try:
        rec = pycolmap.Reconstruction(str(model))
    except Exception as e:  # pycolmap raises plain RuntimeError/ValueError subclasses
        raise SceneError(f"{model}: cannot read COLMAP model ({e})") from None
    Ks, Rs, ts, sizes, paths, depths = [], [], [], [], [], []
    warned = set()
    for im in sorted(rec.images.values(), key=lambda im: im.name):
        if not im.has_pose:
            continue
        cam = rec.cameras[im.camera_id]
        if cam.model_name not in ("PINHOLE", "SIMPLE_PINHOLE") and cam.model_name not in warned:
            warned.add(cam.model_name)
            log.warning("%s: camera model %s read without its distortion", model, cam.model_name)
        K = np.array(cam.calibration_matrix(), np.float64)
        K[:2, 2] -= 0.5  # COLMAP pixel centres are at +0.5
        pose = im.cam_from_world() if callable(im.cam_from_world) else im.cam_from_world
        Rt = np.array(pose.matrix(), np.float64)
        path = images_dir / im.name
        h, w = image_size(path)
        if (h, w) != (cam.height, cam.width):
            raise SceneError(f"{path}: size {w}x{h} does not match the COLMAP camera's {cam.width}x{cam.height}")
        Ks.append(K)
        Rs.append(Rt[:, :3])
        ts.append(Rt[:, 3])
        sizes.append((h, w))
        paths.append(path)
        if depth_from_points:
            depths.append(_sparse_depth_source(rec, im, K, Rt, (h, w)))
    if not paths:
        raise SceneError(f"{model}: no registered images")
    return Scene(
        root.name,
        np.stack(Ks),
        np.stack(Rs),
        np.stack(ts),
        np.array(sizes),
        tuple(paths),
        depths=tuple(depths) if depth_from_points else None,
    )


def _sparse_depth_source(rec, im, K: np.ndarray, Rt: np.ndarray, hw: tuple[int, int]):
    """A callable making the image's sparse depth map from the 3D points it observes."""
    xyz = np.array([rec.points3D[p.point3D_id].xyz for p in im.points2D if p.has_point3D()]).reshape(-1, 3)

    def depth() -> np.ndarray:
        out = np.zeros(hw, np.float32)
        if len(xyz) == 0:
            return out
        cam = xyz @ Rt[:, :3].T + Rt[:, 3]
        z = cam[:, 2]
        front = z > 1e-6
        u = np.round(K[0, 0] * cam[front, 0] / z[front] + K[0, 2]).astype(np.int64)
        v = np.round(K[1, 1] * cam[front, 1] / z[front] + K[1, 2]).astype(np.int64)
        zf = z[front]
        ok = (u >= 0) & (u < hw[1]) & (v >= 0) & (v < hw[0])
        order = np.argsort(-zf[ok])  # nearest point written last wins
        out[v[ok][order], u[ok][order]] = zf[ok][order]
        return out

    return depth


# ----------------------------------------------------------------------------------------- TUM
def _read_list(path: Path, columns: int, numeric: int = 1) -> list[tuple[np.ndarray, list[str]]]:
    """Rows of a TUM list file as (first ``numeric`` columns as finite floats, the remaining columns)."""
    if not path.is_file():
        raise SceneError(f"{path}: file is missing")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < columns:
            raise SceneError(f"{path}:{n}: expected {columns} columns, got {len(parts)}")
        try:
            values = np.array([float(x) for x in parts[:numeric]])
        except ValueError:
            values = np.array([np.nan])
        if not np.all(np.isfinite(values)):
            raise SceneError(f"{path}:{n}: non-numeric or non-finite value in the first {numeric} column(s)")
        rows.append((values, parts[numeric:]))
    if not rows:
        raise SceneError(f"{path}: no entries")
    return rows


def _nearest(stamps: np.ndarray, query: float) -> int:
    i = int(np.searchsorted(stamps, query))
    cands = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
    return min(cands, key=lambda j: abs(stamps[j] - query))


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """``[4]`` quaternion (x, y, z, w), any norm -> ``[3, 3]`` rotation."""
    x, y, z, w = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_tum(
    root: str | Path, intrinsics: tuple[float, float, float, float] | None = None, stride: int = 1, max_dt: float = 0.02
) -> Scene:
    """A TUM RGB-D sequence. ``intrinsics`` (fx, fy, cx, cy) default to the Kinect of the
    ``freiburgN`` named in the folder, else the ROS default; ``stride`` keeps every n-th frame."""
    root = Path(root)
    rgb = _read_list(root / "rgb.txt", 2)
    gt = _read_list(root / "groundtruth.txt", 8, numeric=8)
    has_depth = (root / "depth.txt").is_file()
    depth = _read_list(root / "depth.txt", 2) if has_depth else []
    gt_t, gt_pose = np.array([v[0] for v, _ in gt]), np.array([v[1:8] for v, _ in gt])
    if np.linalg.norm(gt_pose[:, 3:7], axis=1).min() < 1e-6:
        raise SceneError(f"{root / 'groundtruth.txt'}: a pose has a zero quaternion")
    depth_t = np.array([v[0] for v, _ in depth])
    rgb_t = [float(v[0]) for v, _ in rgb]
    order = np.argsort(gt_t)
    gt_t, gt_pose = gt_t[order], gt_pose[order]
    d_order = np.argsort(depth_t)
    if intrinsics is None:
        key = next((k for k in TUM_INTRINSICS if k in str(root.resolve())), "default")
        intrinsics = TUM_INTRINSICS[key]
    fx, fy, cx, cy = intrinsics
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    Rs, ts, sizes, images, depths = [], [], [], [], []
    for stamp, (_, names) in list(zip(rgb_t, rgb))[::stride]:
        g = _nearest(gt_t, stamp)
        if abs(gt_t[g] - stamp) > max_dt:
            continue
        d_path = None
        if has_depth:
            d = int(d_order[_nearest(depth_t[d_order], stamp)])
            if abs(depth_t[d] - stamp) > max_dt:
                continue
            d_path = root / depth[d][1][0]
            if not d_path.is_file():
                raise SceneError(f"{d_path}: depth file is missing")
        image = root / names[0]
        sizes.append(image_size(image))
        R_c2w = quat_xyzw_to_matrix(gt_pose[g, 3:7])
        Rs.append(R_c2w.T)
        ts.append(-R_c2w.T @ gt_pose[g, :3])
        images.append(image)
        depths.append(d_path)
    if not images:
        raise SceneError(f"{root / 'rgb.txt'}: no frame has a pose (and depth) within {max_dt} s")
    n = len(images)
    return Scene(
        root.name,
        np.repeat(K[None], n, 0),
        np.stack(Rs),
        np.stack(ts),
        np.array(sizes),
        tuple(images),
        depths=tuple(depths) if has_depth else None,
        depth_scale=TUM_DEPTH_SCALE,
    )
