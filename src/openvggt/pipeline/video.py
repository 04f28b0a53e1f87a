"""Frames sampled from a video file (PyAV), held in memory as JPEG bytes.

Sampling: ``fps`` keeps the first decoded frame at or after every ``1 / fps`` seconds;
``max_frames`` then keeps that many, evenly spaced (without ``fps``: evenly over the whole
video). The frames are stored as quality-95 JPEG so that the model sees exactly the pixels that
are written to ``DIR/images``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from openvggt.errors import InputError
from openvggt.pipeline.frame import InputFrame

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})
DEFAULT_MAX_FRAMES = 32
JPEG_QUALITY = 95


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTS


def _open(path: Path):  # noqa: ANN202 - av container
    try:
        import av
    except ImportError as exc:  # pragma: no cover - a declared extra
        raise InputError(f"{path}: reading videos needs PyAV (pip install 'openvggt[recon]')") from exc
    try:
        container = av.open(str(path))
    except Exception as exc:  # av raises many error classes (InvalidDataError, ...)
        raise InputError(f"{path}: cannot decode video ({exc.__class__.__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: no video stream in this file")
    return container


def _count_frames(path: Path) -> int:
    """Frames in the first video stream: the header's count, else the demuxed packets (no decoding)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)
    except Exception as exc:
        raise InputError(f"{path}: cannot read video ({exc.__class__.__name__}: {exc})") from None
    finally:
        container.close()


def _jpeg(image) -> bytes:  # noqa: ANN001 - PIL image
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _decode(path: Path, fps: float | None, wanted: set[int] | None) -> list[tuple[float, bytes]]:
    """(time in seconds, JPEG bytes) of the frames with index in ``wanted`` (all when None),
    thinned to one per ``1 / fps`` seconds when ``fps`` is given."""
    from tqdm import tqdm

    container = _open(path)
    stream = container.streams.video[0]
    kept: list[tuple[float, bytes]] = []
    next_time = 0.0
    last = max(wanted) if wanted else None
    try:
        frames = tqdm(container.decode(stream), desc=f"decoding {path.name}", unit="frame", disable=None)
        for index, frame in enumerate(frames):
            if last is not None and index > last:
                break
            t = float(frame.time) if frame.time is not None else float(index)
            if (wanted is not None and index not in wanted) or (fps is not None and t + 1e-6 < next_time):
                continue
            kept.append((t, _jpeg(frame.to_image())))
            if fps is not None:
                next_time = t + 1.0 / fps
    except Exception as exc:  # corrupt data part-way through
        if not kept:
            raise InputError(f"{path}: cannot decode video ({exc.__class__.__name__}: {exc})") from None
        log.warning("%s: stopped decoding after %d frames (%s)", path, len(kept), exc)
    finally:
        container.close()
    if not kept:
        raise InputError(f"{path}: the video has no decodable frames")
    return kept


def _evenly(count: int, keep: int) -> list[int]:
    return sorted({int(i) for i in np.round(np.linspace(0, count - 1, keep))})


def sample_video(path: str | Path, fps: float | None = None, max_frames: int | None = None) -> list[InputFrame]:
    """Sampled frames of ``path`` as :class:`InputFrame` named ``<stem>_<00000>.jpg``, in time order."""
    path = Path(path)
    if fps is not None and fps <= 0:
        raise InputError(f"--fps must be positive, got {fps}")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {max_frames}")
    if fps is None and max_frames is None:
        max_frames = DEFAULT_MAX_FRAMES
    wanted = None
    if fps is None:  # pick frame indices up front so that only those are converted
        wanted = set(_evenly(max(_count_frames(path), 1), max_frames))
    frames = _decode(path, fps, wanted)
    if max_frames is not None and len(frames) > max_frames:
        frames = [frames[i] for i in _evenly(len(frames), max_frames)]
    out = []
    for i, (t, data) in enumerate(frames):
        name = f"{path.stem}_{i:05d}.jpg"
        out.append(InputFrame(name=name, source=f"{path}@{t:.3f}s", data=data))
    log.info("%s: sampled %d frames", path, len(out))
    return out
