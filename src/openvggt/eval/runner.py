"""Run methods on scenes with reference cameras and score them.

A *method* is a callable ``(image_paths, work_dir) -> Prediction`` with a ``name`` attribute
(:class:`~openvggt.eval.vggt_method.VggtMethod`, :class:`ColmapMethod`). :func:`evaluate` runs
each method on each scene folder (any layout :func:`openvggt.data.readers.read_scene` reads;
the suites use ``cameras.json``) and returns ``{"results": [row, ...], "summary": {...}}``.

Each row holds the scene, the method, ``frames``, ``registered``, ``time_s`` and the camera
metrics of :func:`openvggt.metrics.camera_metrics` in both translation conventions: the
plain keys (``auc30``, ``rta15``, ...) use ``"signed"`` translation directions, and the
``*_unsigned`` keys the official VGGT convention (a reversed baseline scores 0 error). When the
scene has reference depth and the method returns depth, the row also holds:

* ``depth_abs_rel``, ``depth_delta125`` (percent), ``depth_pixels``: the method's depth against
  the reference, sampled at the method's pixel centres (nearest reference pixel), after one
  median scale factor for the whole scene (``depth_align``); only pixels where both are
  valid, on registered frames;
* ``pc_accuracy``, ``pc_completeness``, ``pc_overall`` (reference units, metres for synthetic
  scenes): the method's points against the reference depth unprojected with the reference
  cameras, after a Sim(3) fitted on the registered camera centres (at least 3 needed).
"""

from __future__ import annotations

import logging
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from openvggt._version import __version__
from openvggt.data.readers import read_scene
from openvggt.eval.colmap_baseline import ColmapOptions, run_colmap
from openvggt.eval.prediction import Prediction
from openvggt.geometry import depth_to_world_coords_points
from openvggt.longseq.metrics import trajectory_metrics
from openvggt.metrics import camera_metrics, depth_metrics, pointcloud_metrics

log = logging.getLogger(__name__)

__all__ = ["EvalOptions", "ColmapMethod", "evaluate", "evaluate_prediction", "summarize"]

CAMERA_KEYS = ("auc30", "auc15", "auc5", "auc3", "rra5", "rta5", "rra15", "rta15", "rra30", "rta30")
UNSIGNED_KEYS = ("auc30", "auc5", "auc3", "rta5", "rta15", "rta30")
SUMMARY_KEYS = (
    "auc30",
    "auc5",
    "auc3",
    "rra15",
    "rta15",
    "auc30_unsigned",
    "time_s",
    "ate_rmse",
    "rpe_trans",
    "depth_abs_rel",
    "depth_delta125",
    "pc_accuracy",
    "pc_completeness",
    "pc_overall",
)

Method = Callable[[Sequence[Path], Path], Prediction]


@dataclass(frozen=True)
class EvalOptions:
    """``point_stride``: take every n-th reference pixel (per axis) as reference points;
    ``max_points``: subsample both clouds to at most this many points (seeded) for the NN queries;
    ``repeat``: runs per scene and method (see :func:`evaluate_scene`)."""

    depth_align: str = "median"
    point_stride: int = 2
    max_points: int = 200_000
    work_dir: Path | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.repeat < 1 or self.point_stride < 1 or self.max_points < 1:
            raise ValueError(f"repeat, point_stride and max_points must be >= 1, got {self}")


class ColmapMethod:
    """COLMAP as a method (see :mod:`openvggt.eval.colmap_baseline`); named ``colmap`` with the
    incremental mapper and ``colmap-global`` with the global one."""

    def __init__(self, options=None) -> None:  # noqa: ANN001

        self.options = options or ColmapOptions()
        self.name = "colmap" if self.options.mapper == "incremental" else f"colmap-{self.options.mapper}"
        self.image_sizes: Sequence[tuple[int, int]] | None = None

    def __call__(self, image_paths: Sequence[Path], work_dir: Path) -> Prediction:

        return run_colmap(image_paths, work_dir, self.options, image_sizes=self.image_sizes)


# ------------------------------------------------------------------------------------------ depth
def _sample_reference(ref: np.ndarray, shape: tuple[int, int], affine: np.ndarray | None) -> np.ndarray:
    """Reference depth ``[H0, W0]`` sampled at the centres of a ``shape`` grid (nearest pixel).

    ``affine`` maps original pixels to grid pixels (corner origin); outside the original image
    the result is 0 (invalid).
    """
    h, w = shape
    if affine is None and ref.shape == (h, w):
        return ref
    inv = np.linalg.inv(np.eye(3) if affine is None else np.asarray(affine, np.float64))
    xs = (np.arange(w) + 0.5) * inv[0, 0] + inv[0, 2]  # grid centres -> original x (axis-aligned affine)
    ys = (np.arange(h) + 0.5) * inv[1, 1] + inv[1, 2]
    col, row = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    ok_c, ok_r = (col >= 0) & (col < ref.shape[1]), (row >= 0) & (row < ref.shape[0])
    out = ref[np.clip(row, 0, ref.shape[0] - 1)][:, np.clip(col, 0, ref.shape[1] - 1)]
    return np.where(ok_r[:, None] & ok_c[None, :], out, 0.0)


def _depth_row(scene, pred: Prediction, align: str) -> dict:  # noqa: ANN001
    """Depth metrics of the registered frames, pixels pooled; empty when nothing compares."""
    pred_vals, ref_vals = [], []
    for i in np.flatnonzero(pred.registered):
        d = pred.depth[i]
        if d is None:
            continue
        d = np.asarray(d, np.float64)
        affine = None if pred.depth_from_original is None else pred.depth_from_original[i]
        r = _sample_reference(scene.load_depth(int(i)).astype(np.float64), d.shape, affine)
        ok = np.isfinite(d) & (d > 0) & (r > 0)
        pred_vals.append(d[ok])
        ref_vals.append(r[ok])
    if not pred_vals or sum(v.size for v in pred_vals) == 0:
        return {}
    # One row per frame, padded with invalid pixels, so per-frame alignment stays possible.
    n = max(v.size for v in pred_vals)
    p = np.full((len(pred_vals), 1, n), np.nan)
    g = np.zeros((len(pred_vals), 1, n))
    for k, (pv, rv) in enumerate(zip(pred_vals, ref_vals)):
        p[k, 0, : pv.size], g[k, 0, : rv.size] = pv, rv
    m = depth_metrics(p, g, align=align)
    return {
        "depth_abs_rel": m["abs_rel"],
        "depth_delta125": m["delta_1_25"],
        "depth_pixels": m["valid_pixels"],
        "depth_align": align,
    }


# ----------------------------------------------------------------------------------------- points
def _reference_points(scene, stride: int) -> np.ndarray:  # noqa: ANN001
    """``[N, 3]`` reference depth of every frame unprojected with the reference cameras."""

    clouds = []
    for i in range(scene.num_frames):
        depth = scene.load_depth(i).astype(np.float64)
        world, _, valid = depth_to_world_coords_points(depth, scene.extrinsics[i], scene.K[i], cam_dtype=None)
        clouds.append(world[::stride, ::stride][valid[::stride, ::stride]])
    return np.concatenate(clouds, axis=0)


def _points_row(scene, pred: Prediction, options: EvalOptions) -> dict:  # noqa: ANN001
    reg = pred.registered
    if pred.points is None or len(pred.points) == 0 or int(reg.sum()) < 3:
        return {}
    m = pointcloud_metrics(
        pred.points,
        _reference_points(scene, options.point_stride),
        align="cameras",
        pred_extrinsics=pred.extrinsics[reg],
        gt_extrinsics=scene.extrinsics[reg],
        max_points=options.max_points,
    )
    return {"pc_accuracy": m["accuracy"], "pc_completeness": m["completeness"], "pc_overall": m["overall"]}


# ------------------------------------------------------------------------------------------ scenes
def evaluate_prediction(scene, pred: Prediction, options: EvalOptions = EvalOptions()) -> dict:  # noqa: ANN001
    """Metrics of one prediction against ``scene``'s reference (a :class:`~openvggt.data.scene.Scene`)."""
    if pred.num_frames != scene.num_frames:
        raise ValueError(f"{scene.name}: prediction has {pred.num_frames} frames, the scene {scene.num_frames}")
    signed = camera_metrics(pred.extrinsics, scene.extrinsics, pred.registered, translation="signed")
    unsigned = camera_metrics(pred.extrinsics, scene.extrinsics, pred.registered, translation="unsigned")
    row = {"frames": signed["frames"], "registered": signed["registered"], "pairs": signed["pairs"]}
    row.update({k: signed[k] for k in CAMERA_KEYS})
    row.update({f"{k}_unsigned": unsigned[k] for k in UNSIGNED_KEYS})
    row["time_s"] = float(pred.time_s)
    row.update(_trajectory_row(scene, pred))
    if scene.has_depth and pred.depth is not None:
        row.update(_depth_row(scene, pred, options.depth_align))
    if scene.has_depth:
        row.update(_points_row(scene, pred, options))
    return row


def _trajectory_row(scene, pred: Prediction) -> dict:  # noqa: ANN001
    """ATE RMSE and RPE (evo's definitions, see :mod:`openvggt.longseq.metrics`) over the registered frames."""
    reg = pred.registered
    if int(reg.sum()) < 3:
        return {}
    try:
        m = trajectory_metrics(pred.extrinsics[reg], scene.extrinsics[reg], pairs_frames=3)
    except ImportError:  # evo is an optional dependency (the "long" extra)
        return {}
    return {k: m[k] for k in ("ate_rmse", "rpe_trans", "rpe_rot_deg")}


def _image_paths(scene) -> list[Path]:  # noqa: ANN001
    paths = [p for p in scene.images if isinstance(p, Path)]
    if len(paths) != scene.num_frames:
        raise ValueError(f"{scene.name}: methods need image files; this scene has in-memory images")
    return paths


def _run_once(scene, scene_dir, method: Method, name: str, options: EvalOptions) -> dict:  # noqa: ANN001
    with tempfile.TemporaryDirectory(prefix=f"openvggt-eval-{name}-", dir=options.work_dir) as tmp:
        pred = method(_image_paths(scene), Path(tmp))
    row = {"scene": scene.name, "method": name, **evaluate_prediction(scene, pred, options)}
    row["info"] = pred.info
    log.info(
        "%s / %s: %d of %d registered, AUC@30 %.1f, %.1f s",
        scene.name,
        name,
        row["registered"],
        row["frames"],
        row["auc30"],
        row["time_s"],
    )
    return row


def evaluate_scene(scene_dir: str | Path, method: Method, options: EvalOptions = EvalOptions()) -> dict:
    """Read a scene folder, run ``method`` on its images and score it; returns one result row.

    With ``options.repeat = n > 1`` the method runs ``n`` times and the row is the run with the
    median AUC@30 (the lower median for even ``n``), so every number in it comes from one real
    run; ``runs``, ``auc30_runs``, ``registered_runs`` and ``time_s_runs`` record all of them.
    """

    scene = read_scene(scene_dir)
    if scene.num_frames < 2:
        raise ValueError(f"{scene_dir}: camera metrics need at least 2 frames, the scene has {scene.num_frames}")
    name = getattr(method, "name", type(method).__name__)
    if isinstance(method, ColmapMethod):
        method.image_sizes = [tuple(int(v) for v in hw) for hw in scene.sizes]
    runs = [_run_once(scene, scene_dir, method, name, options) for _ in range(options.repeat)]
    order = sorted(range(len(runs)), key=lambda k: runs[k]["auc30"])
    row = runs[order[(len(runs) - 1) // 2]]
    if len(runs) > 1:
        row["runs"] = len(runs)
        for key in ("auc30", "registered", "time_s"):
            row[f"{key}_runs"] = [r[key] for r in runs]
    row["scene_sha256"] = scene_fingerprint(scene_dir, scene)
    return row


def scene_fingerprint(scene_dir: str | Path, scene) -> str:  # noqa: ANN001
    """First 16 hex digits of a SHA-256 over ``cameras.json`` (if any) and every image file, in frame
    order: two runs with the same fingerprint saw the same scene bytes."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256()
    cameras = Path(scene_dir) / "cameras.json"
    for path in ([cameras] if cameras.is_file() else []) + _image_paths(scene):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(statistics.fmean(vals)) if vals else None


def summarize(rows: list[dict]) -> dict:
    """Per method: scenes, frames, registered, total time and the mean over scenes of each metric."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        entry = {
            "scenes": len(mine),
            "frames": sum(r["frames"] for r in mine),
            "registered": sum(r["registered"] for r in mine),
            "total_time_s": float(sum(r["time_s"] for r in mine)),
        }
        for key in SUMMARY_KEYS:
            entry[f"mean_{key}"] = _mean([r.get(key) for r in mine])
        out[method] = entry
    return out


def run_metadata(command: str | None = None) -> dict:
    """Machine, date, versions and the command line of this run."""
    import torch  # noqa: PLC0415

    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {_cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"
        + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "openvggt": __version__,
        "command": command if command is not None else " ".join(["openvggt", *sys.argv[1:]]),
    }
    try:
        import pycolmap  # noqa: PLC0415

        meta["pycolmap"] = pycolmap.__version__
    except ImportError:
        pass
    meta.update(_git_state())
    return meta


def _git_state() -> dict:
    """``{"git_commit", "git_modified"}`` of the source checkout, when it is one (else empty)."""
    import subprocess  # noqa: PLC0415

    src = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if commit.returncode != 0:
        return {}
    modified = sorted(line[3:] for line in status.stdout.splitlines() if line[:2].strip())
    return {"git_commit": commit.stdout.strip(), "git_modified": modified}


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one, else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_count() -> int:
    import os  # noqa: PLC0415

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def evaluate(
    scene_dirs: Sequence[str | Path],
    methods: Sequence[Method],
    options: EvalOptions = EvalOptions(),
    command: str | None = None,
) -> dict:
    """Every method on every scene: ``{"results": [row, ...], "summary": {method: {...}, "meta": {...}}}``."""
    rows = [evaluate_scene(d, m, options) for m in methods for d in scene_dirs]
    summary = summarize(rows)
    summary["meta"] = run_metadata(command)
    for m in methods:
        if getattr(m, "load_s", None):
            summary[m.name]["load_s"] = float(m.load_s)
    return {"results": rows, "summary": summary}
