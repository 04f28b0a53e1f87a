"""Image loading and the official VGGT preprocessing (spec section 8.4).

:func:`load_images` returns exactly the tensors of the official ``load_and_preprocess_images``
for ordinary 8-bit RGB/RGBA files and, beyond it, handles EXIF orientation, alpha in any mode,
16-bit greyscale, in-memory images, clear errors, and reports the pixel transform of each image.

Pixel coordinates in :class:`ImageMeta` are continuous with the origin at the top-left *corner*
of the image: pixel column ``i`` covers ``[i, i + 1)`` and has its centre at ``i + 0.5``. This is
the convention of PIL's resampling (so the transform is exact) and of the model's intrinsics,
whose principal point ``(W/2, H/2)`` is the image centre. For coordinates whose integers are
pixel centres (query points, tracks, depth unprojection) pass ``centered=True``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from openvggt.errors import ImageLoadError

__all__ = ["ImageLoadError", "ImageMeta", "load_image_rgb", "load_images"]

logger = logging.getLogger(__name__)

PATCH_SIZE = 14  # output sides are multiples of the ViT patch
_EXIF_ORIENTATION = 0x0112
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

ImageSource = str | os.PathLike | Image.Image | np.ndarray


@dataclass(frozen=True)
class ImageMeta:
    """Where one image ended up in the model input.

    ``model = scale * original + offset`` per axis, in corner-origin pixel coordinates (see the
    module docstring). ``offset`` is negative where rows were cropped away and positive where
    white padding was added.
    """

    source: str  # file path, or "<array #i>" / "<PIL image #i>" for in-memory inputs
    original_size: tuple[int, int]  # (width, height) after EXIF orientation (when applied)
    resized_size: tuple[int, int]  # (width, height) after the bicubic resize
    model_size: tuple[int, int]  # (width, height) of the returned tensor
    scale: tuple[float, float]  # (sx, sy) = resized / original
    offset: tuple[float, float]  # (ox, oy) in model pixels
    exif_orientation: int = 1  # EXIF orientation tag that was undone (1: none)

    def affine(self) -> np.ndarray:
        """``[3, 3]`` float64 matrix ``A`` with ``[x_m, y_m, 1] = A @ [x_o, y_o, 1]`` (corner origin)."""
        (sx, sy), (ox, oy) = self.scale, self.offset
        return np.array([[sx, 0.0, ox], [0.0, sy, oy], [0.0, 0.0, 1.0]])

    def original_to_model(self, xy, centered: bool = False):
        """Map ``[..., 2]`` ``(x, y)`` original pixels to model-input pixels (numpy or torch)."""
        return _apply_axes(xy, self.scale, self.offset, centered)

    def model_to_original(self, xy, centered: bool = False):
        """Inverse of :meth:`original_to_model`."""
        (sx, sy), (ox, oy) = self.scale, self.offset
        return _apply_axes(xy, (1 / sx, 1 / sy), (-ox / sx, -oy / sy), centered)

    def footprint(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` model pixels covered by the original image (corner origin, clipped)."""
        w, h = self.original_size
        (x0, y0), (x1, y1) = self.original_to_model(np.array([[0.0, 0.0], [w, h]]))
        mw, mh = self.model_size
        return (max(0, round(x0)), max(0, round(y0)), min(mw, round(x1)), min(mh, round(y1)))

    def intrinsics_to_original(self, intrinsics):
        """``[..., 3, 3]`` intrinsics of the model input -> intrinsics of the original image.

        Computes ``A^-1 K``: focal lengths are divided by the scale and the principal point is
        moved back. Works on numpy arrays and torch tensors.
        """
        inverse = np.linalg.inv(self.affine())
        if isinstance(intrinsics, Tensor):
            return torch.as_tensor(inverse, dtype=intrinsics.dtype, device=intrinsics.device) @ intrinsics
        return inverse @ intrinsics


def _apply_axes(xy, scale, offset, centered: bool):
    half = 0.5 if centered else 0.0
    x = (xy[..., 0] + half) * scale[0] + offset[0] - half
    y = (xy[..., 1] + half) * scale[1] + offset[1] - half
    return torch.stack((x, y), dim=-1) if isinstance(xy, Tensor) else np.stack((x, y), axis=-1)


# ----------------------------------------------------------------------------------------- reading
def _open_file(path: str) -> Image.Image:
    """Open and fully decode a file, turning every failure into ImageLoadError naming it."""
    if not os.path.exists(path):
        raise ImageLoadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageLoadError(f"{path}: is a directory, not an image")
    try:
        with Image.open(path) as image:
            image.load()  # decoding is lazy: truncated or corrupt data fails here
            return image.copy()
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{path}: cannot decode image ({exc})") from exc


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    """uint8/uint16/bool/float ``[H, W]``, ``[H, W, 1|3|4]`` arrays; floats are taken in [0, 1]."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ImageLoadError(f"{name}: expected an [H, W], [H, W, 3] or [H, W, 4] array, got shape {array.shape}")
    if array.dtype == np.uint16:
        array = _sixteen_to_eight(array)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        array = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageLoadError(f"{name}: unsupported array dtype {array.dtype} (use uint8, uint16, bool or float)")
    return Image.fromarray(np.ascontiguousarray(array))


def _sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """Map the 16-bit range onto 8 bits, ``round(v / 257)`` (65535 -> 255), clipping outside it."""
    return np.round(np.clip(values.astype(np.float64), 0, 65535) / 257).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB image; alpha is composited onto white, 16-bit grey is rescaled rather than clipped."""
    if image.mode in _SIXTEEN_BIT_MODES:
        image = Image.fromarray(_sixteen_to_eight(np.asarray(image)))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def _read(source: ImageSource, index: int, exif_transpose: bool) -> tuple[Image.Image, str, int]:
    """(RGB image, display name, EXIF orientation undone)."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        image = _open_file(name)
    elif isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or f"<PIL image #{index}>"
        try:
            source.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(f"{name}: cannot decode image ({exc})") from exc
        image = source
    elif isinstance(source, np.ndarray):
        name = f"<array #{index}>"
        image = _from_array(source, name)
    else:
        raise ImageLoadError(f"item #{index}: expected a path, PIL image or numpy array, got {type(source).__name__}")
    orientation = 1
    if exif_transpose:
        orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        if orientation != 1:
            image = ImageOps.exif_transpose(image)
    return _to_rgb(image), name, orientation


def load_image_rgb(source: ImageSource, exif_transpose: bool = True) -> Image.Image:
    """Read one image as an upright 8-bit RGB PIL image.

    Args:
        source: file path (str or Path), PIL image, or numpy array (see :func:`load_images`).
        exif_transpose: undo the EXIF orientation tag (the official loader does not).

    Raises:
        ImageLoadError: missing, unreadable, corrupt or truncated input; the message names it.
    """
    return _read(source, 0, exif_transpose)[0]


# ------------------------------------------------------------------------------------ preprocessing
def _resized_size(width: int, height: int, mode: str, size: int) -> tuple[int, int]:
    """(new_w, new_h): the long side (crop: the width) becomes ``size``, the other a multiple of 14."""
    if mode == "crop" or width >= height:
        new_w, new_h = size, round(height * (size / width) / PATCH_SIZE) * PATCH_SIZE
    else:
        new_w, new_h = round(width * (size / height) / PATCH_SIZE) * PATCH_SIZE, size
    # Extreme aspect ratios would round to 0 (the official code fails there); keep one patch.
    return max(new_w, PATCH_SIZE), max(new_h, PATCH_SIZE)


def _pad_white(pixels: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Centre ``[h, w, 3]`` uint8 pixels on a white ``[height, width, 3]`` canvas -> (canvas, top, left)."""
    h, w = pixels.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[top : top + h, left : left + w] = pixels
    return canvas, top, left


def _preprocess(image: Image.Image, mode: str, size: int) -> tuple[np.ndarray, tuple, tuple, tuple]:
    """One RGB image -> (``[h, w, 3]`` uint8 pixels, resized (w, h), scale, offset)."""
    width, height = image.size
    new_w, new_h = _resized_size(width, height, mode, size)
    pixels = np.asarray(image.resize((new_w, new_h), Image.Resampling.BICUBIC), dtype=np.uint8)
    offset_x = offset_y = 0
    if mode == "crop" and new_h > size:
        start = (new_h - size) // 2
        pixels, offset_y = pixels[start : start + size], -start
    elif mode == "pad":
        pixels, offset_y, offset_x = _pad_white(pixels, size, size)
    return pixels, (new_w, new_h), (new_w / width, new_h / height), (offset_x, offset_y)


def _as_list(images) -> list:
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        return [images]
    if not isinstance(images, Sequence):
        raise TypeError(f"load_images expects a list of images, got {type(images).__name__}")
    return list(images)


def _check_options(mode: str, size: int) -> None:
    if mode not in ("crop", "pad"):
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    if not isinstance(size, int) or size < PATCH_SIZE or size % PATCH_SIZE:
        raise ValueError(f"size must be a positive multiple of {PATCH_SIZE}, got {size!r}")


def load_images(
    images: Sequence[ImageSource] | ImageSource,
    mode: str = "crop",
    size: int = 518,
    *,
    exif_transpose: bool = True,
    return_meta: bool = False,
) -> Tensor | tuple[Tensor, list[ImageMeta]]:
    """Load images and preprocess them for VGGT, as the official ``load_and_preprocess_images``.

    Each image is read as RGB (alpha composited onto white), resized with PIL bicubic so that
    its width (``"crop"``), or its longer side (``"pad"``), is ``size`` and the other side is the
    nearest multiple of 14 (Python ``round``); then ``"crop"`` keeps the central ``size`` rows of
    images taller than ``size`` and ``"pad"`` centres the image on a white ``size x size``
    canvas. If the images end up with different shapes (crop mode), all are centred on white
    canvases of the largest height and width, and a warning is logged.

    Differences from the official loader, none of which affects ordinary 8-bit RGB/RGBA files
    without an EXIF orientation: the EXIF orientation is undone (``exif_transpose=True``);
    alpha in any mode (LA, PA, palette transparency) is composited onto white; 16-bit greyscale
    is mapped with ``round(v / 257)`` instead of being clipped at 255; inputs may be PIL images
    or numpy arrays; failures raise :class:`ImageLoadError` naming the file.

    Args:
        images: a list of (or a single) file path, PIL image, or numpy array (``[H, W]``,
            ``[H, W, 1|3|4]``; uint8, uint16, bool, or float in [0, 1]).
        mode: ``"crop"`` or ``"pad"``.
        size: target side in pixels, a multiple of 14 (518 for the released models).
        exif_transpose: undo the EXIF orientation tag.
        return_meta: also return one :class:`ImageMeta` per image.

    Returns:
        ``[N, 3, H, W]`` float32 RGB in [0, 1] (values ``k / 255``), and with ``return_meta`` the
        list of :class:`ImageMeta`. Each meta's ``original_to_model`` maps original pixel
        coordinates to input pixels, ``model_x = scale_x * x + offset_x`` (same for y, corner
        origin); ``intrinsics_to_original`` turns intrinsics predicted for the input (e.g. from
        :func:`openvggt.geometry.pose_encoding_to_extri_intri` with the input's ``(H, W)``) into
        intrinsics of the original image.

    Raises:
        ImageLoadError: a missing, unreadable, corrupt or truncated input (message names it).
        ValueError: an empty list, an unknown mode or a size that is not a multiple of 14.
    """
    _check_options(mode, size)
    sources = _as_list(images)
    if not sources:
        raise ValueError("load_images needs at least one image")

    processed, infos = [], []  # per image: [h, w, 3] uint8 pixels; (name, size, resized, scale, offset, exif)
    for index, source in enumerate(sources):
        image, name, orientation = _read(source, index, exif_transpose)
        pixels, resized, scale, offset = _preprocess(image, mode, size)
        processed.append(pixels)
        infos.append((name, image.size, resized, scale, offset, orientation))

    height = max(p.shape[0] for p in processed)
    width = max(p.shape[1] for p in processed)
    if any(p.shape[:2] != (height, width) for p in processed):
        shapes = sorted({tuple(p.shape[:2]) for p in processed})
        logger.warning(
            "images have different shapes %s after preprocessing; padding all to %dx%d with white",
            shapes,
            height,
            width,
        )
    batch = np.empty((len(processed), height, width, 3), dtype=np.uint8)  # [N, H, W, 3]
    metas = []
    for i, (pixels, (name, original, resized, scale, offset, orientation)) in enumerate(zip(processed, infos)):
        batch[i], top, left = _pad_white(pixels, height, width)
        shifted = (offset[0] + left, offset[1] + top)
        metas.append(ImageMeta(name, original, resized, (width, height), scale, shifted, orientation))

    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)  # [N, 3, H, W]
    return (tensor, metas) if return_meta else tensor
