"""Image loading: exact parity with the official preprocessing, extras, errors and the pixel transform."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from safetensors.torch import load_file

from openvggt.io import ImageLoadError, load_images
from openvggt.io.images import load_image_rgb


@pytest.fixture(scope="module")
def preprocess(parity_dir):
    meta = json.loads((parity_dir / "preprocess.json").read_text())
    paths = [parity_dir / "images" / name for name in meta["images"]]
    return paths, load_file(str(parity_dir / "preprocess.safetensors"))


def _assert_exact(ours: torch.Tensor, ref_uint8: torch.Tensor) -> None:
    assert ours.dtype == torch.float32 and ours.shape == ref_uint8.shape
    scaled = ours.double() * 255
    assert float((scaled - scaled.round()).abs().max()) < 1e-4  # values are k / 255
    assert torch.equal((ours * 255).round().to(torch.uint8), ref_uint8)
    assert torch.equal(ours, ref_uint8.float() / 255)  # bit-identical to the official tensor


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_fixture_parity_each_image(preprocess, mode):
    paths, ref = preprocess
    for i, path in enumerate(paths):
        _assert_exact(load_images([path], mode=mode), ref[f"{mode}.{i}"])


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_fixture_parity_all_images(preprocess, mode, caplog):
    paths, ref = preprocess
    with caplog.at_level(logging.WARNING, logger="openvggt.io.images"):
        ours = load_images([str(p) for p in paths], mode=mode)
    _assert_exact(ours, ref[f"{mode}.all"])
    # Crop mode gives mixed heights here (392, 518, 154, 518), which must be reported.
    assert ("different shapes" in caplog.text) == (mode == "crop")


def test_in_memory_inputs_match_files(preprocess):
    paths, ref = preprocess
    pil_images = [Image.open(p) for p in paths]
    arrays = [np.asarray(Image.open(p)) for p in paths]  # includes an [H, W, 4] RGBA array
    _assert_exact(load_images(pil_images, mode="pad"), ref["pad.all"])
    _assert_exact(load_images(arrays, mode="crop"), ref["crop.all"])
    _assert_exact(load_images(paths[0], mode="crop"), ref["crop.0"])  # a single path


def _gradient(width: int, height: int) -> np.ndarray:
    """uint8 [H, W, 3] test pattern with distinct rows, columns and channels."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(((x * 7) % 256, (y * 5) % 256, (x + 2 * y) % 256), axis=-1).astype(np.uint8)


def test_exif_orientation_is_undone(tmp_path):
    stored = np.zeros((40, 80, 3), dtype=np.uint8)  # stored landscape: red left half, blue right half
    stored[:, :40, 0] = 255
    stored[:, 40:, 2] = 255
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, quality=95, exif=exif.tobytes())

    decoded = np.asarray(load_image_rgb(path, exif_transpose=False))
    upright = np.rot90(decoded, k=-1)  # clockwise quarter turn: red ends up on top
    ours, metas = load_images([path], mode="pad", return_meta=True)
    assert torch.equal(ours, load_images([np.ascontiguousarray(upright)], mode="pad"))
    assert metas[0].original_size == (40, 80) and metas[0].exif_orientation == 6
    top, bottom = ours[0, :, 40:100, 259], ours[0, :, 420:480, 259]
    assert top[0].mean() > 0.9 and top[2].mean() < 0.1 and bottom[2].mean() > 0.9
    # Without the transpose the official (sideways) result comes back.
    official = load_images([path], mode="pad", exif_transpose=False)
    assert torch.equal(official, load_images([decoded], mode="pad"))


def test_rgba_and_other_alpha_modes_composite_on_white(tmp_path):
    rgba = np.zeros((28, 518, 4), dtype=np.uint8)  # 518 wide: no resampling in crop mode
    rgba[:, :100] = (200, 0, 40, 128)  # half transparent
    rgba[:, 100:200] = (10, 20, 30, 0)  # fully transparent -> white
    rgba[:, 200:] = (10, 20, 30, 255)  # opaque -> unchanged
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    out = (load_images([path]) * 255).round()[0]
    expected_half = [(c * 128 + 255 * 127) / 255 for c in (200, 0, 40)]
    assert np.abs(out[:, 0, 50].numpy() - expected_half).max() <= 1
    assert out[:, 0, 150].tolist() == [255, 255, 255]
    assert out[:, 0, 300].tolist() == [10, 20, 30]
    # LA (grey + alpha) and a palette image with a transparent index are composited too.
    la = Image.fromarray(rgba[..., [0, 3]], mode="LA")
    assert (load_images([la]) * 255).round()[0, :, 0, 150].tolist() == [255, 255, 255]
    palette = Image.fromarray(np.zeros((28, 518), dtype=np.uint8), mode="P")
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert float(load_images([palette]).min()) == 1.0


def test_grayscale_becomes_rgb(tmp_path):
    grey = _gradient(518, 42)[..., 0]
    path = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(path)
    out = load_images([path])
    assert out.shape == (1, 3, 42, 518)
    for channel in range(3):
        assert torch.equal((out[0, channel] * 255).round().to(torch.uint8), torch.from_numpy(grey))


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path):
    values = np.array([0, 257, 32896, 65535, 1000, 40000, 128, 129], dtype=np.uint16)
    grey16 = np.tile(np.repeat(values, 518 // 7 + 1)[:518], (14, 1))  # [14, 518]
    path = tmp_path / "deep.png"
    Image.fromarray(grey16).save(path)
    with Image.open(path) as reopened:
        assert reopened.mode in ("I;16", "I")
    out = (load_images([path]) * 255).round().to(torch.int64)[0, 0]
    expected = np.round(grey16 / 257).astype(np.int64)
    assert torch.equal(out, torch.from_numpy(expected))
    assert int(out.max()) == 255 and int(out[0, 160]) == 128  # 32896 -> 128, not 255
    # In-memory uint16 arrays follow the same rule.
    assert torch.equal(load_images([grey16]), load_images([path]))


def test_float_array_input():
    pattern = _gradient(518, 28)
    as_float = pattern.astype(np.float32) / 255
    assert torch.equal(load_images([as_float]), load_images([pattern]))


def test_corrupt_and_truncated_files_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageLoadError, match="garbage.png"):
        load_images([garbage])
    full = tmp_path / "full.jpg"
    Image.fromarray(_gradient(200, 150)).save(full, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageLoadError, match="truncated.jpg"):
        load_images([full, truncated])
    assert issubclass(ImageLoadError, ValueError)


def test_missing_path_and_bad_inputs(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png: no such file"):
        load_images([tmp_path / "nope.png"])
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_images([tmp_path])
    with pytest.raises(ImageLoadError, match=r"<array #1>: unsupported array dtype int32"):
        load_images([_gradient(30, 20), np.zeros((20, 30), dtype=np.int32)])
    with pytest.raises(ImageLoadError, match="item #0"):
        load_images([3.5])
    with pytest.raises(ValueError, match="at least one image"):
        load_images([])
    with pytest.raises(ValueError, match="mode must be"):
        load_images([_gradient(30, 20)], mode="resize")
    with pytest.raises(ValueError, match="multiple of 14"):
        load_images([_gradient(30, 20)], size=500)


def test_smaller_target_size_scales_the_rules():
    image = _gradient(640, 480)
    assert load_images([image], size=224).shape == (1, 3, 168, 224)  # round(480 * 224/640 / 14) * 14
    assert load_images([image], mode="pad", size=224).shape == (1, 3, 224, 224)
    portrait = _gradient(300, 900)
    assert load_images([portrait], size=224).shape == (1, 3, 224, 224)  # 672 rows, centre-cropped
    padded, metas = load_images([portrait], mode="pad", size=224, return_meta=True)
    assert padded.shape == (1, 3, 224, 224) and metas[0].resized_size == (70, 224)  # 77 white columns left
    assert float(padded[0, :, :, :77].min()) == 1.0 and float(padded[0, :, :, 77:147].min()) < 1.0


def _box_image(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Mid-grey image with a lighter box [x0, x1) x [y0, y1) (no clipping after bicubic)."""
    pixels = np.full((height, width, 3), 64, dtype=np.uint8)
    x0, x1, y0, y1 = box
    pixels[y0:y1, x0:x1] = 192
    return pixels


def _centroid(model: torch.Tensor, around: np.ndarray, radius: int = 32) -> np.ndarray:
    """Corner-origin (x, y) centroid of (value - 64) in a window around a predicted point."""
    values = model[0].double().numpy() * 255 - 64  # [H, W]
    cx, cy = int(around[0]), int(around[1])
    rows = slice(cy - radius, cy + radius)
    cols = slice(cx - radius, cx + radius)
    window = values[rows, cols]
    ys, xs = np.mgrid[rows, cols]
    weights = window / window.sum()
    return np.array([((xs + 0.5) * weights).sum(), ((ys + 0.5) * weights).sum()])


@pytest.mark.parametrize(
    ("size_wh", "box", "mode"),
    [
        ((700, 500), (300, 320, 200, 216), "crop"),  # resize, then white rows to the common shape
        ((700, 500), (300, 320, 200, 216), "pad"),  # resize and white rows
        ((400, 900), (150, 170, 420, 440), "crop"),  # resize and cropped rows
        ((400, 900), (150, 170, 420, 440), "pad"),  # resize and white columns
    ],
)
def test_meta_maps_original_pixels_to_model_pixels(size_wh, box, mode):
    width, height = size_wh
    # A second, portrait image makes the landscape one go through the final pad-to-common-shape step.
    images = [_box_image(width, height, box), _gradient(518, 700)]
    out, metas = load_images(images, mode=mode, return_meta=True)
    meta = metas[0]
    assert meta.original_size == (width, height) and meta.model_size == (out.shape[-1], out.shape[-2])
    box_centre = np.array([(box[0] + box[1]) / 2, (box[2] + box[3]) / 2])
    predicted = meta.original_to_model(box_centre)
    measured = _centroid(out[0, :1], predicted)
    assert np.abs(measured - predicted).max() < 0.05
    # Inverse, centred convention and torch inputs agree.
    np.testing.assert_allclose(meta.model_to_original(predicted), box_centre, atol=1e-12)
    centred = meta.original_to_model(box_centre - 0.5, centered=True)
    np.testing.assert_allclose(centred, predicted - 0.5, atol=1e-12)
    as_torch = meta.original_to_model(torch.tensor(box_centre))
    np.testing.assert_allclose(as_torch.numpy(), predicted, atol=1e-12)


def test_intrinsics_to_original_reprojects_consistently():
    _, metas = load_images([_box_image(400, 900, (0, 1, 0, 1))], mode="crop", return_meta=True)
    meta = metas[0]
    k_model = np.array([[300.0, 0, 259], [0, 310, 259], [0, 0, 1]])
    k_original = meta.intrinsics_to_original(k_model)
    point = np.array([0.3, -0.2, 2.0])
    pix_model = (k_model @ point)[:2] / point[2]
    pix_original = (k_original @ point)[:2] / point[2]
    np.testing.assert_allclose(meta.original_to_model(pix_original), pix_model, atol=1e-9)
    sx, sy = meta.scale
    np.testing.assert_allclose([k_original[0, 0], k_original[1, 1]], [300 / sx, 310 / sy], rtol=1e-12)
    torch_k = meta.intrinsics_to_original(torch.tensor(k_model, dtype=torch.float32))
    assert torch_k.dtype == torch.float32
    np.testing.assert_allclose(torch_k.numpy(), k_original, rtol=1e-6)
