"""One input image of a pipeline job: a file, an encoded video frame, or an image handed over in memory."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

__all__ = ["InputFrame"]


@dataclass(frozen=True)
class InputFrame:
    """One input image: a file, an encoded video frame, or an image handed over in memory."""

    name: str  # name in the COLMAP model and in DIR/images ("/"-separated)
    source: str  # for messages: the path, "clip.mp4@1.250s" or "<array #0>"
    path: Path | None = None
    data: bytes | None = None  # encoded (JPEG) video frame
    image: Image.Image | None = None  # in-memory RGB image (saved as PNG)

    def open(self) -> Image.Image:
        """The decoded image (EXIF orientation not yet applied)."""
        if self.image is not None:
            return self.image
        if self.data is not None:
            return Image.open(io.BytesIO(self.data))
        return Image.open(self.path)
