"""Frame sources: images by index, decoded only when asked for.

A source knows how many frames it has and their names without decoding any; ``source[i]`` gives what the
:class:`~openvggt.Predictor` accepts for frame ``i`` (a file path for image files — so preprocessing is the
official one — or an ``[H, W, 3]`` uint8 array), and ``source.image(i)`` always an array. Memory stays
bounded: a video source keeps a small cache of decoded frames and decodes forward from its last position.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from openvggt.errors import InputError
from openvggt.io.images import load_image_rgb

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class FrameSource:
    """Base class: ``len(source)``, ``source.names``, ``source[i]`` (predictor input), ``source.image(i)``."""

    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> np.ndarray:  # [H, W, 3] uint8
        raise NotImplementedError

    def __getitem__(self, i: int):  # noqa: ANN204 - a path or an array
        return self.image(i)

    def describe(self) -> str:
        return f"{len(self)} frames"


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


class ImageFilesSource(FrameSource):
    """Image files in the given order (frames are read from disk each time they are needed)."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise InputError("no images given")
        for p in self.paths:
            if not p.is_file():
                raise InputError(f"{p}: no such file")
        names = [p.name for p in self.paths]
        if len(set(names)) != len(names):
            root = Path(os.path.commonpath([str(p.resolve().parent) for p in self.paths]))
            names = [p.resolve().relative_to(root).as_posix() for p in self.paths]
        self.names = names

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> ImageFilesSource:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")
        files = sorted(
            (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS), key=_natural_key
        )
        if not files:
            raise InputError(f"{folder}: no images in this folder")
        return cls(files)

    def __getitem__(self, i: int) -> str:
        return str(self.paths[i])

    def image(self, i: int) -> np.ndarray:
        return np.asarray(load_image_rgb(str(self.paths[i])))

    def describe(self) -> str:
        return f"{len(self)} image files"


class VideoSource(FrameSource):
    """Every frame (or every ``stride``-th) of a video, decoded on demand with PyAV.

    Frames are asked for almost in order (chunk after chunk, each reaching back ``overlap`` frames), so the
    source decodes forward and keeps the last ``cache`` decoded frames; asking for an earlier frame that
    left the cache re-opens the file.
    """

    def __init__(self, path: str | os.PathLike, stride: int = 1, max_frames: int | None = None, cache: int = 64):
        try:
            import av
        except ImportError as exc:  # pragma: no cover - a declared extra
            raise InputError("reading videos needs PyAV (pip install 'openvggt[recon]')") from exc
        self.path, self.stride, self.cache_size = Path(path), max(1, int(stride)), max(1, cache)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self._av = av
        count = self._count()
        indices = list(range(0, count, self.stride))
        if max_frames is not None:
            indices = indices[:max_frames]
        if not indices:
            raise InputError(f"{self.path}: the video has no frames")
        self.indices = indices
        self.names = [f"{self.path.stem}_{i:05d}.jpg" for i in range(len(indices))]
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._iter = None
        self._container = None
        self._next = 0  # index (in the file) of the frame the decoder yields next

    def _open(self):  # noqa: ANN202
        try:
            container = self._av.open(str(self.path))
        except Exception as exc:  # PyAV raises many error classes
            raise InputError(f"{self.path}: cannot decode video ({exc.__class__.__name__}: {exc})") from None
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path}: no video stream in this file")
        return container

    def _count(self) -> int:
        container = self._open()
        try:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)
        finally:
            container.close()

    def _restart(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._open()
        self._iter = self._container.decode(self._container.streams.video[0])
        self._next = 0

    def image(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self.indices):
            raise IndexError(i)
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        target = self.indices[i]
        if self._iter is None or target < self._next:
            self._restart()
        wanted = {fi: k for k, fi in enumerate(self.indices) if self._next <= fi <= target}
        while self._next <= target:
            try:
                frame = next(self._iter)
            except StopIteration:
                raise InputError(f"{self.path}: the video ended before frame {target}") from None
            if self._next in wanted:
                self._put(wanted[self._next], np.asarray(frame.to_image().convert("RGB")))
            self._next += 1
        return self._cache[i]

    def _put(self, i: int, array: np.ndarray) -> None:
        self._cache[i] = array
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container, self._iter = None, None

    def describe(self) -> str:
        return f"{len(self)} frames of {self.path.name}"


class CallableSource(FrameSource):
    """Frames made by a function ``render(i) -> [H, W, 3] uint8`` (a renderer, arrays in memory)."""

    def __init__(self, names: Sequence[str], render: Callable[[int], np.ndarray]):
        self.names = list(names)
        self._render = render

    def image(self, i: int) -> np.ndarray:
        return np.asarray(self._render(i))


def open_source(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike, stride: int = 1, max_frames: int | None = None
) -> FrameSource:
    """A folder, a video file, or image files (a list) as a lazy :class:`FrameSource`."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise InputError("no input given: pass a video, a folder of images or image files")
    if len(inputs) == 1 and inputs[0].is_dir():
        source: FrameSource = ImageFilesSource.from_folder(inputs[0])
    elif len(inputs) == 1 and inputs[0].suffix.lower() in VIDEO_EXTS:
        return VideoSource(inputs[0], stride=stride, max_frames=max_frames)
    else:
        for p in inputs:
            if p.is_dir() or p.suffix.lower() in VIDEO_EXTS:
                raise InputError(f"{p}: give one video or one folder, or a list of image files")
        source = ImageFilesSource(inputs)
    if stride > 1 or max_frames is not None:
        paths = source.paths[::stride][:max_frames]
        source = ImageFilesSource(paths)
    return source


def save_frame(source: FrameSource, i: int, path: Path) -> None:
    """Write frame ``i`` to ``path``: a copy of the file for file sources, else an encoded image."""
    if isinstance(source, ImageFilesSource):
        shutil.copyfile(source.paths[i], path)
        return
    image = Image.fromarray(source.image(i))
    image.save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else image.save(path)
