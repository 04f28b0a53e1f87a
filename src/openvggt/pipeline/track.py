"""The ``openvggt track`` job: track query points through the frames of a folder, video or image list.

Outputs are in ORIGINAL pixels of each frame, pixel centres at integers (the primitives in
:mod:`openvggt.pipeline.tracking` work in model pixels). Legend: S frames, N queries.
"""

from __future__ import annotations

import colorsys
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ImageDraw

from openvggt.errors import InputError
from openvggt.io.images import load_image_rgb
from openvggt.pipeline.inference import load_predictor
from openvggt.pipeline.inputs import InputFrame, collect_inputs, load_frames, size_for_tracks
from openvggt.pipeline.outputs import atomic_dir
from openvggt.pipeline.queries import parse_queries, queries_to_model
from openvggt.pipeline.timing import StageTimer
from openvggt.pipeline.tracking import MIN_TRACK_SIDE, Tracks, feature_maps, track_queries
from openvggt.predictor import Predictor

log = logging.getLogger(__name__)


@dataclass
class TrackResult:
    """Tracks in ORIGINAL pixels of each frame (pixel centres at integers)."""

    frames: list[InputFrame]  # [S]
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
        with atomic_dir(Path(out_dir), overwrite) as tmp:
            save_tracks(self, tmp)
        return Path(os.path.abspath(out_dir))


def track_points(
    inputs,  # noqa: ANN001 - as for reconstruct
    queries: str | os.PathLike | np.ndarray,
    weights: str | os.PathLike = "default",
    model=None,  # noqa: ANN001 - a loaded VGGT with a track head
    device: str = "auto",
    dtype: str = "auto",
    mode: str = "crop",
    size: int | None = None,
    iters: int | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    predictor: Predictor | None = None,
) -> TrackResult:
    """Track ``queries`` (a file, see :func:`~openvggt.pipeline.queries.parse_queries`, or an ``[N, 3]`` array of
    (frame, x, y) in original pixels, pixel centres at integers) through the frames of ``inputs``."""
    timer = StageTimer()
    given = model is not None or predictor is not None
    with timer("collect inputs"):
        frames = collect_inputs(inputs, fps=fps, max_frames=max_frames)
        names = [f.name for f in frames]
        q = parse_queries(queries, names) if not isinstance(queries, np.ndarray) else np.asarray(queries, float)
        if q.ndim != 2 or q.shape[1] != 3 or not len(q):
            raise InputError(f"queries must be [N, 3] (frame, x, y), got shape {q.shape}")
        if ((q[:, 0] < 0) | (q[:, 0] >= len(frames))).any():
            raise InputError(f"query frames must be in 0..{len(frames) - 1}")
    with timer("load model"):
        predictor = load_predictor(
            weights, ("track",), model=model, predictor=predictor, device=device, dtype=dtype, mode=mode, size=size
        )
    with timer("load images"):
        width = predictor.size
        if size is None:  # a small model's default width can be too small for the track head
            width = size_for_tracks(frames, mode, width, predictor.config.patch_size, MIN_TRACK_SIDE)
            if width != predictor.size:
                log.info("model input raised to %d px wide so that tracks get %d px a side", width, MIN_TRACK_SIDE)
        images, metas = load_frames(frames, mode, width)
        query_xy = queries_to_model(q, metas, names)
    with timer("inference"):
        out = predictor(images, heads=(), keep_intermediates=True)
    with timer("tracking"):
        fmaps = feature_maps(predictor, out.intermediates)
        tracks = track_queries(predictor, fmaps, q[:, 0].astype(int), query_xy, iters)
    xy = np.stack([m.model_to_original(tracks.xy[i], centered=True) for i, m in enumerate(metas)])
    xy[q[:, 0].astype(int), np.arange(len(q))] = q[:, 1:]  # the query itself, exactly as given
    settings = {"weights": "(a model passed in)" if given else str(weights), "mode": mode, "dtype": predictor.dtype,
                "model_size": list(metas[0].model_size), "iters": iters}  # fmt: skip
    return TrackResult(frames, tracks, xy, q, settings, timer.seconds)


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
    return colorsys.hsv_to_rgb(h, 0.85, 1.0)
