"""From what the user typed (folders, files, globs, videos) to the model's input tensor.

Every frame gets a *name*: the file name that identifies it in the COLMAP model and in
``DIR/images``. Names are file names when those are unique, otherwise paths relative to the
inputs' common folder. Images with more than ``LARGE_IMAGE_PIXELS`` pixels are decoded at a
reduced size first (JPEG draft mode, then an integer box reduction) so that huge photographs do
not need gigabytes of memory; their :class:`~openvggt.io.images.ImageMeta` still maps the
*original* pixels.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from openvggt.errors import InputError
from openvggt.io.images import ImageLoadError, ImageMeta, load_image_rgb, load_images
from openvggt.pipeline.frame import InputFrame
from openvggt.pipeline.video import is_video, sample_video

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})
LARGE_IMAGE_PIXELS = 40_000_000  # decode bigger images at a reduced size
HUGE_IMAGE_PIXELS = 1_000_000_000  # refuse beyond this (PIL's own guard is ~179 MP)
_EXIF_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _in_memory(item: object, index: int) -> InputFrame | None:
    """An :class:`InputFrame` for a numpy array or PIL image (``[H, W]``, ``[H, W, 3|4]``), else None."""
    if not isinstance(item, (np.ndarray, Image.Image)):
        return None
    kind = "array" if isinstance(item, np.ndarray) else "PIL image"
    rgb = load_image_rgb(item)  # validates shape and dtype, applies EXIF orientation of PIL images
    return InputFrame(name=f"image_{index:05d}.png", source=f"<{kind} #{index}>", image=rgb)


# ---------------------------------------------------------------------------------------------- collecting
def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def _folder_images(folder: Path) -> list[Path]:
    files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    others = [p.name for p in files if p.suffix.lower() not in IMAGE_EXTS]
    if others:
        videos = [n for n in others if is_video(Path(n))]
        log.warning(
            "%s: skipping %d non-image file(s) (%s%s)%s",
            folder,
            len(others),
            ", ".join(others[:3]),
            ", ..." if len(others) > 3 else "",
            "; pass a video file itself to sample its frames" if videos else "",
        )
    if not images:
        what = f" ({len(others)} other file(s))" if others else ""
        raise InputError(f"{folder}: no images in this folder{what}")
    return images


def _expand(item: str | os.PathLike) -> list[Path]:
    text = os.fspath(item)
    path = Path(text).expanduser()
    if path.is_dir():
        return _folder_images(path)
    if path.is_file():
        return [path]
    if glob.has_magic(text):
        matches = sorted((Path(p) for p in glob.glob(os.path.expanduser(text))), key=_natural_key)
        files = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
        if not files:
            raise InputError(f"{text}: no image files match this pattern")
        return files
    raise InputError(f"{text}: no such file or folder")


def _unique_names(paths: Sequence[Path]) -> list[str]:
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    return [p.resolve().relative_to(root).as_posix() for p in paths]


def collect_inputs(
    inputs: Sequence[str | os.PathLike | np.ndarray | Image.Image],
    fps: float | None = None,
    max_frames: int | None = None,
) -> list[InputFrame]:
    """Frames of ``inputs`` in order: folders (their images, natural sort), image files, globs, videos,
    and in-memory images (numpy arrays or PIL images, named ``image_00000.png``, ...).

    Raises:
        InputError: nothing given, a missing path, a folder without images, an undecodable video.
    """
    if isinstance(inputs, (str, os.PathLike, np.ndarray, Image.Image)):
        inputs = [inputs]
    if not inputs:
        raise InputError("no input given: pass image files, a folder, a glob or a video")
    frames: list[InputFrame] = []
    image_paths: list[Path] = []
    seen: set[Path] = set()
    memory = 0
    for item in inputs:
        frame = _in_memory(item, memory)
        if frame is not None:
            frames.append(frame)
            memory += 1
            continue
        for path in _expand(item):
            if is_video(path):
                frames.extend(sample_video(path, fps=fps, max_frames=max_frames))
                continue
            if path.resolve() in seen:
                log.warning("%s is given more than once; using it once", path)
                continue
            seen.add(path.resolve())
            image_paths.append(path)
            frames.append(InputFrame(name="", source=str(path), path=path))
    names = iter(_unique_names(image_paths))
    frames = [f if f.path is None else replace(f, name=next(names)) for f in frames]
    duplicates = {f.name for f in frames if sum(g.name == f.name for g in frames) > 1}
    if duplicates:
        raise InputError(f"two inputs would share the name {sorted(duplicates)[0]!r}; rename one of them")
    return frames


# ---------------------------------------------------------------------------------------------- loading
@contextlib.contextmanager
def _pixel_limit(limit: int) -> Iterator[None]:
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(limit, old or 0)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _upright_size(image: Image.Image) -> tuple[int, int]:
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    w, h = image.size
    return (h, w) if orientation in _EXIF_TRANSPOSED else (w, h)


def _reduced(frame: InputFrame, target: int) -> tuple[Image.Image | None, tuple[int, int]]:
    """(image decoded at a reduced size or None if it is not large, upright original (w, h))."""
    try:
        with _pixel_limit(HUGE_IMAGE_PIXELS // 2):
            image = frame.open()
            w, h = image.size
            if w * h <= LARGE_IMAGE_PIXELS:
                return None, _upright_size(image)
            if w * h > HUGE_IMAGE_PIXELS:
                raise InputError(f"{frame.source}: {w}x{h} is too large to decode; downscale it first")
            original = _upright_size(image)
            image.draft("RGB", (max(target * 2, w // 8), max(target * 2, h // 8)))  # JPEG only; no-op else
            rgb = load_image_rgb(image)
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{frame.source}: cannot decode image ({exc})") from exc
    factor = max(1, min(rgb.size) // (2 * target))
    if factor > 1:
        rgb = rgb.reduce(factor)
    log.info("%s: %dx%d image decoded at %dx%d", frame.source, *original, *rgb.size)
    return rgb, original


def _rescaled_meta(meta: ImageMeta, source: str, decoded: tuple[int, int], original: tuple[int, int]) -> ImageMeta:
    """Meta of an image decoded at ``decoded`` (w, h) re-expressed in ``original`` pixels."""
    rx, ry = decoded[0] / original[0], decoded[1] / original[1]
    return replace(meta, source=source, original_size=original, scale=(meta.scale[0] * rx, meta.scale[1] * ry))


def load_frames(frames: Sequence[InputFrame], mode: str, size: int) -> tuple[np.ndarray, list[ImageMeta]]:
    """Model input for ``frames``: ``[S, 3, H, W]`` float32 RGB in [0, 1] and one meta per frame.

    Ordinary image files go through :func:`openvggt.io.images.load_images` untouched (identical to
    the official preprocessing); large ones are pre-reduced (see the module docstring).
    """
    sources: list = []
    fixes: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {}
    for i, frame in enumerate(frames):
        if frame.path is not None:
            if not frame.path.is_file():
                raise InputError(f"{frame.path}: no such file")
            reduced, original = _reduced(frame, size)
            if reduced is None:
                sources.append(str(frame.path))
                continue
            fixes[i] = (reduced.size, original)
            sources.append(reduced)
        else:
            sources.append(load_image_rgb(frame.open()))
    tensor, metas = load_images(sources, mode=mode, size=size, return_meta=True)
    out = []
    for i, (frame, meta) in enumerate(zip(frames, metas)):
        if i in fixes:
            meta = _rescaled_meta(meta, frame.source, *fixes[i])
        elif frame.path is None:
            meta = replace(meta, source=frame.source)
        out.append(meta)
    return tensor, out


def size_for_tracks(frames: Sequence[InputFrame], mode: str, size: int, step: int, min_side: int) -> int:
    """The smallest model input width, from ``size`` up in steps of ``step`` (the patch size), at which the first
    frame's input has ``min_side`` pixels a side: what a small model's default width needs for the track head."""
    while min(load_frames(frames[:1], mode, size)[0].shape[-2:]) < min_side:
        size += step
    return size
