"""Reading and writing: images (:mod:`openvggt.io.images`), checkpoints and exports."""

from .images import ImageLoadError, ImageMeta, load_images

__all__ = ["ImageLoadError", "ImageMeta", "load_images"]
