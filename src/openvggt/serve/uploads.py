"""Checking uploaded files by their content and storing them under names the server chooses.

A client's file name never reaches the file system: an upload is identified by its bytes (magic
numbers, then a full decode), stored as ``frame_00000.jpg`` ... or ``video.mp4`` in the job's
folder. Every rejection is an :class:`UploadRejected` with an HTTP status (413: over a limit,
422: not usable) and a one-line reason.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

# PIL format name -> file extension of the stored copy
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
VIDEO_EXTS = ("mp4", "mov", "webm", "mkv", "avi")


@dataclass(frozen=True)
class Limits:
    """What one job may upload; the defaults suit a CPU server."""

    max_total_bytes: int = 200 * 2**20  # all files of one job together
    max_files: int = 64
    max_image_pixels: int = 40_000_000  # width x height of one image
    max_video_seconds: float = 120.0
    max_video_frames: int = 64  # frames sampled from a video (the model sees all of them at once)

    def as_dict(self) -> dict:
        return {
            "max_total_bytes": self.max_total_bytes,
            "max_files": self.max_files,
            "max_image_pixels": self.max_image_pixels,
            "max_video_seconds": self.max_video_seconds,
            "max_video_frames": self.max_video_frames,
        }


class UploadRejected(Exception):
    """An upload the server refuses: ``status`` 413 (too large) or 422 (unusable), ``reason`` one line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def sniff_video(head: bytes) -> str | None:
    """Container type of a video from its first bytes, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska / WebM
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def check_image(data: bytes, label: str, limits: Limits) -> str:
    """The stored extension of an image upload; raises :class:`UploadRejected` when it is not a whole image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                if fmt not in IMAGE_FORMATS:
                    raise UploadRejected(422, f"{label}: {fmt} images are not accepted (JPEG, PNG, WebP, BMP, TIFF)")
                if width * height > limits.max_image_pixels:
                    raise UploadRejected(
                        413, f"{label}: {width}x{height} is over the limit of {limits.max_image_pixels:,} pixels"
                    )
                image.verify()  # structure and checksums (PNG)
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a full decode: catches truncated JPEGs that verify() lets through
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(413, f"{label}: over the limit of {limits.max_image_pixels:,} pixels") from None
    except UnidentifiedImageError:
        raise UploadRejected(422, f"{label}: not an image or a video") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's ways of saying "broken"
        raise UploadRejected(422, f"{label}: truncated or corrupt {fmt_name(data)} ({exc})") from None
    return IMAGE_FORMATS[fmt]


def fmt_name(data: bytes) -> str:
    return "JPEG" if data[:3] == b"\xff\xd8\xff" else "PNG" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image"


def check_video(path: Path, label: str, limits: Limits) -> float:
    """Duration in seconds of a stored video; raises :class:`UploadRejected` when unreadable or too long."""
    try:
        import av
    except ImportError:
        raise UploadRejected(422, f"{label}: videos need PyAV on the server (pip install 'openvggt[recon]')") from None
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                raise UploadRejected(422, f"{label}: the file has no video stream")
            stream = streams[0]
            if container.duration is not None:
                seconds = container.duration / 1_000_000  # av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = float("inf")  # unknown length: refused rather than decoded to find out
            next(container.decode(stream))  # at least one decodable frame
    except UploadRejected:
        raise
    except (StopIteration, av.FFmpegError, OSError, ValueError) as exc:
        raise UploadRejected(422, f"{label}: not a readable video ({type(exc).__name__})") from None
    if seconds > limits.max_video_seconds:
        length = "of unknown length" if seconds == float("inf") else f"{seconds:.0f} s long"
        raise UploadRejected(413, f"{label}: the video is {length}; the limit is {limits.max_video_seconds:.0f} s")
    return seconds


def store_uploads(files: list[tuple[bytes, str]], folder: Path, limits: Limits) -> tuple[list[Path], bool]:
    """Check ``files`` (``(data, label)`` pairs; the label only appears in messages) and write them into
    ``folder``. Returns ``(paths, is_video)``: images, or exactly one video."""
    if not files:
        raise UploadRejected(422, "no files: send images or one video in the multipart field 'files'")
    if len(files) > limits.max_files:
        raise UploadRejected(413, f"{len(files)} files is over the limit of {limits.max_files}")
    total = sum(len(d) for d, _ in files)
    if total > limits.max_total_bytes:
        raise UploadRejected(413, f"{total:,} bytes is over the limit of {limits.max_total_bytes:,}")
    folder.mkdir(parents=True, exist_ok=True)
    videos = [(d, label, kind) for d, label in files if (kind := sniff_video(d[:64])) is not None]
    if videos:
        if len(files) > 1:
            raise UploadRejected(422, "send either images or one video, not both or several videos")
        data, label, kind = videos[0]
        path = folder / f"video.{kind}"
        path.write_bytes(data)
        check_video(path, label, limits)
        return [path], True
    paths = []
    for i, (data, label) in enumerate(files):
        if not data:
            raise UploadRejected(422, f"{label}: empty file")
        ext = check_image(data, label, limits)
        path = folder / f"frame_{i:05d}.{ext}"
        path.write_bytes(data)
        paths.append(path)
    return paths, False
