"""Point tracking with the track head, from any query frame, and the ``openvggt track`` job.

The track head treats frame 0 as the query frame. Its feature extractor works on every frame on
its own and the tracker's only notion of frame order is "frame 0 versus the rest" (one learned
token for the query frame, one shared by all others; time attention has no positional code). So
tracking from frame ``q`` is the same computation with the frames reordered ``[q, others...]``:
we compute the feature maps once from the aggregator's tokens (which are NOT recomputed: the
aggregator's frame 0 is special), reorder them per query frame, run the tracker and undo the order.

Coordinates: ``(x, y)`` pixels with pixel centres at integers, in the model input
(:class:`Tracks`) or in each original image (the job's outputs). Legend: S frames, N queries.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from openvggt.errors import InputError
from openvggt.io.images import ImageMeta
from openvggt.pipeline.inference import ModelRun, autocast

log = logging.getLogger(__name__)

MIN_TRACK_SIDE = 128  # the track head needs at least this many pixels per side


@dataclass
class Tracks:
    """Tracks in model-input pixels (pixel centres at integers)."""

    xy: np.ndarray  # [S, N, 2]
    vis: np.ndarray  # [S, N] visibility probability
    conf: np.ndarray  # [S, N] confidence probability
    query_frame: np.ndarray  # [N] int
    query_xy: np.ndarray  # [N, 2]


def feature_maps(model, run: ModelRun, dtype: str = "fp32") -> torch.Tensor:  # noqa: ANN001
    """Track features ``[1, S, C, H/2, W/2]`` of every frame, from the captured tokens."""
    if model.track_head is None:
        raise InputError("this model has no track head (needed for tracking and --ba)")
    if run.tokens is None:
        raise ValueError("run the model with keep_tokens=True to track")
    if min(run.image_hw) < MIN_TRACK_SIDE:
        raise InputError(
            f"tracking needs images of at least {MIN_TRACK_SIDE} px per side; the model input is "
            f"{run.image_hw[1]}x{run.image_hw[0]} (raise --size or use --mode pad)"
        )
    device = next(model.parameters()).device
    with torch.inference_mode(), autocast(device, dtype):
        return model.track_head.feature_extractor(run.tokens, run.image_hw, run.patch_start_idx)


def track_from_frame(
    model,  # noqa: ANN001
    fmaps: torch.Tensor,
    query_frame: int,
    queries: torch.Tensor,
    iters: int | None = None,
    dtype: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Track ``queries [N, 2]`` (model pixels in frame ``query_frame``) through ``fmaps [1, S, C, h, w]``.

    Returns ``xy [S, N, 2]``, ``vis [S, N]``, ``conf [S, N]`` (float32, CPU) in the original frame order.
    """
    s = fmaps.shape[1]
    order = [query_frame] + [i for i in range(s) if i != query_frame]
    inverse = torch.as_tensor(np.argsort(order))
    device = fmaps.device
    with torch.inference_mode(), autocast(device, dtype):
        coords, vis, conf = model.track_head.tracker(
            queries[None].to(device, torch.float32), fmaps[:, order], iters=iters
        )
    xy = coords[-1][0].float().cpu()[inverse]  # [S, N, 2]
    vis = vis[0].float().cpu()[inverse]
    conf = torch.ones_like(vis) if conf is None else conf[0].float().cpu()[inverse]
    return xy, vis, conf


def track_queries(
    model,  # noqa: ANN001
    fmaps: torch.Tensor,
    query_frame: np.ndarray,
    query_xy: np.ndarray,
    iters: int | None = None,
    dtype: str = "fp32",
    chunk: int = 1024,
) -> Tracks:
    """Track queries given per point (``query_frame [N]``, ``query_xy [N, 2]`` model pixels).

    Queries of one frame are refined together (the tracker couples them), at most ``chunk`` at a time.
    """
    from tqdm import tqdm

    s, n = fmaps.shape[1], len(query_frame)
    xy, vis, conf = np.zeros((s, n, 2), np.float32), np.zeros((s, n), np.float32), np.zeros((s, n), np.float32)
    groups = [
        idx[i : i + chunk] for f in np.unique(query_frame) for idx in [np.nonzero(query_frame == f)[0]]
        for i in range(0, len(idx), chunk)
    ]  # fmt: skip
    for idx in tqdm(groups, desc="tracking", unit="query frame", disable=None if len(groups) > 1 else True):
        q = torch.as_tensor(query_xy[idx], dtype=torch.float32)
        t_xy, t_vis, t_conf = track_from_frame(model, fmaps, int(query_frame[idx[0]]), q, iters, dtype)
        xy[:, idx], vis[:, idx], conf[:, idx] = t_xy.numpy(), t_vis.numpy(), t_conf.numpy()
    return Tracks(xy, vis, conf, np.asarray(query_frame), np.asarray(query_xy, np.float32))


# ---------------------------------------------------------------------------------------------- the job
@dataclass
class TrackResult:
    """Tracks in ORIGINAL pixels of each frame (pixel centres at integers)."""

    frames: list  # [S] InputFrame
    tracks: Tracks  # model-input pixels
    xy: np.ndarray  # [S, N, 2] original pixels of each frame
    queries: np.ndarray  # [N, 3] (frame, x, y) as given, original pixels
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.frames]

    def save(self, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``tracks.npz``, ``tracks.json`` and ``overlays/`` into ``out_dir`` atomically."""
        from openvggt.pipeline.outputs import atomic_dir

        with atomic_dir(Path(out_dir), overwrite) as tmp:
            save_tracks(self, tmp)
        return Path(os.path.abspath(out_dir))


def track_points(
    inputs,  # noqa: ANN001 - as for reconstruct
    queries: str | os.PathLike | np.ndarray,
    weights: str | os.PathLike = "default",
    model=None,  # noqa: ANN001
    device: str = "auto",
    dtype: str = "fp32",
    mode: str = "crop",
    size: int | None = None,
    iters: int | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
) -> TrackResult:
    """Track ``queries`` (a file, see :func:`parse_queries`, or an ``[N, 3]`` array of (frame, x, y) in
    original pixels, pixel centres at integers) through the frames of ``inputs``."""
    from openvggt.pipeline.inference import load_model_for, run_model
    from openvggt.pipeline.inputs import collect_inputs, load_frames
    from openvggt.pipeline.timing import StageTimer
    from openvggt.runtime import resolve_device

    timer = StageTimer()
    given = model is not None
    with timer("collect inputs"):
        frames = collect_inputs(inputs, fps=fps, max_frames=max_frames)
        names = [f.name for f in frames]
        q = parse_queries(queries, names) if not isinstance(queries, np.ndarray) else np.asarray(queries, float)
        if q.ndim != 2 or q.shape[1] != 3 or not len(q):
            raise InputError(f"queries must be [N, 3] (frame, x, y), got shape {q.shape}")
        if ((q[:, 0] < 0) | (q[:, 0] >= len(frames))).any():
            raise InputError(f"query frames must be in 0..{len(frames) - 1}")
    with timer("load model"):
        if model is None:
            model = load_model_for(weights, resolve_device(device), ("track",))
    with timer("load images"):
        images, metas = load_frames(frames, mode, size or model.config.img_size)
        query_xy = queries_to_model(q, metas, names)
    with timer("inference"):
        run = run_model(model, images, (), dtype, keep_tokens=True)
    with timer("tracking"):
        fmaps = feature_maps(model, run, dtype)
        tracks = track_queries(model, fmaps, q[:, 0].astype(int), query_xy, iters, dtype)
    xy = np.stack([m.model_to_original(tracks.xy[i], centered=True) for i, m in enumerate(metas)])
    xy[q[:, 0].astype(int), np.arange(len(q))] = q[:, 1:]  # the query itself, exactly as given
    settings = {"weights": "(a model passed in)" if given else str(weights), "mode": mode, "dtype": dtype,
                "model_size": list(metas[0].model_size), "iters": iters}  # fmt: skip
    return TrackResult(frames, tracks, xy, q, settings, timer.seconds)


def parse_queries(path: str | os.PathLike, names: Sequence[str]) -> np.ndarray:
    """``[N, 3]`` (frame index, x, y) from a CSV/whitespace text file or JSON.

    Text: one ``frame x y`` per line (commas or spaces; ``#`` comments; a header line is skipped).
    JSON: a list of ``[frame, x, y]`` or of ``{"frame": ..., "x": ..., "y": ...}``. ``frame`` is an
    index into the inputs or an image name / stem.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such queries file")
    try:
        rows = _query_rows(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read queries ({exc})") from None
    if not rows:
        raise InputError(f"{path}: no queries in this file")
    lookup = {n: i for i, n in enumerate(names)} | {Path(n).stem: i for i, n in enumerate(names)}
    out = []
    for line, (frame, x, y) in enumerate(rows, start=1):
        if isinstance(frame, str) and not frame.lstrip("-").isdigit():
            if frame not in lookup:
                raise InputError(f"{path}: query {line}: no input image named {frame!r}")
            index = lookup[frame]
        else:
            index = int(frame)
            if not 0 <= index < len(names):
                raise InputError(f"{path}: query {line}: frame {index} is not in 0..{len(names) - 1}")
        out.append((index, float(x), float(y)))
    return np.array(out, dtype=np.float64)


def _query_rows(path: Path) -> list[tuple]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        data = data.get("queries", data) if isinstance(data, dict) else data
        return [(d["frame"], d["x"], d["y"]) if isinstance(d, dict) else tuple(d) for d in data]
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        parts = line.split("#", 1)[0].replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"line {i + 1}: expected 'frame x y', got {line.strip()!r}")
        try:
            rows.append((parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            if rows:
                raise ValueError(f"line {i + 1}: x and y must be numbers, got {line.strip()!r}") from None
    return rows


def queries_to_model(queries: np.ndarray, metas: Sequence[ImageMeta], names: Sequence[str]) -> np.ndarray:
    """``[N, 2]`` model pixels of ``queries [N, 3]`` (original pixels); errors for points the model cannot see."""
    out = np.zeros((len(queries), 2))
    for n, (frame, x, y) in enumerate(queries):
        meta = metas[int(frame)]
        w, h = meta.original_size
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            raise InputError(f"query {n + 1}: ({x:g}, {y:g}) is outside {names[int(frame)]} ({w}x{h})")
        mx, my = meta.original_to_model(np.array([x, y]), centered=True)
        left, top, right, bottom = model_footprint(meta)
        if not (left - 0.5 <= mx < right - 0.5 and top - 0.5 <= my < bottom - 0.5):
            raise InputError(
                f"query {n + 1}: ({x:g}, {y:g}) in {names[int(frame)]} was cropped away by --mode crop; "
                "use --mode pad to keep the whole image"
            )
        out[n] = (mx, my)
    return out


def model_footprint(meta: ImageMeta) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` model pixels covered by the original image (corner origin, clipped)."""
    w, h = meta.original_size
    (x0, y0), (x1, y1) = meta.original_to_model(np.array([[0.0, 0.0], [w, h]]))
    mw, mh = meta.model_size
    return (max(0, round(x0)), max(0, round(y0)), min(mw, round(x1)), min(mh, round(y1)))


def save_tracks(result: TrackResult, out_dir: Path) -> None:
    """Write ``tracks.npz``, ``tracks.json`` and ``overlays/<stem>.png`` into ``out_dir``."""
    t = result.tracks
    np.savez_compressed(
        out_dir / "tracks.npz",
        tracks=result.xy.astype(np.float32), vis=t.vis, conf=t.conf, queries=result.queries,
        tracks_model=t.xy, names=np.array(result.names),
    )  # fmt: skip
    doc = {
        "convention": "x, y in pixels of each original image, pixel centres at integers (top-left pixel = 0, 0)",
        "frames": result.names,
        "settings": result.settings,
        "tracks": [
            {
                "query": {"frame": int(q[0]), "x": float(q[1]), "y": float(q[2])},
                "points": [
                    {
                        "x": float(result.xy[s, n, 0]),
                        "y": float(result.xy[s, n, 1]),
                        "visible": float(t.vis[s, n]),
                        "confidence": float(t.conf[s, n]),
                    }
                    for s in range(len(result.names))
                ],  # fmt: skip
            }
            for n, q in enumerate(result.queries)
        ],
    }
    (out_dir / "tracks.json").write_text(json.dumps(doc, indent=1))
    _write_overlays(result, out_dir / "overlays")


def _write_overlays(result: TrackResult, folder: Path) -> None:
    from PIL import ImageDraw

    from openvggt.io.images import load_image_rgb

    folder.mkdir(parents=True, exist_ok=True)
    n = result.xy.shape[1]
    colours = [tuple(int(255 * c) for c in _hsv(i / max(n, 1))) for i in range(n)]
    for s, frame in enumerate(result.frames):
        image = load_image_rgb(frame.open())
        scale = min(1.0, 1280 / max(image.size))
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)))
        draw = ImageDraw.Draw(image)
        r = max(3, round(max(image.size) / 200))
        for i in range(n):
            x, y = (result.xy[s, i] + 0.5) * scale - 0.5
            box = (x - r, y - r, x + r, y + r)
            if result.tracks.vis[s, i] >= 0.5:
                draw.ellipse(box, fill=colours[i], outline=(0, 0, 0))
            else:
                draw.ellipse(box, outline=colours[i], width=max(1, r // 3))
        image.save(folder / f"{Path(frame.name).stem}.png")


def _hsv(h: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(h, 0.85, 1.0)
