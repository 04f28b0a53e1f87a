"""Collecting inputs (folders, globs, files, videos) and loading them for the model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openvggt.errors import InputError
from openvggt.io.images import ImageLoadError, load_images
from openvggt.pipeline import inputs as inputs_mod
from openvggt.pipeline.inputs import collect_inputs, load_frames
from tests.pipeline.conftest import textured


def _save(path: Path, width: int = 160, height: int = 120, seed: int = 0, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(textured(width, height, seed)).save(path, **kwargs)
    return path


def test_folder_natural_order_and_non_images_skipped(tmp_path, caplog):
    for name in ["f10.jpg", "f2.jpg", "f1.png"]:
        _save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    with caplog.at_level(logging.WARNING):
        frames = collect_inputs([tmp_path])
    assert [f.name for f in frames] == ["f1.png", "f2.jpg", "f10.jpg"]
    assert "skipping 1 non-image file(s) (notes.txt)" in caplog.text


def test_empty_folder_missing_path_and_empty_glob_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no images in this folder"):
        collect_inputs([tmp_path / "empty"])
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(InputError, match=r"no images in this folder \(1 other file"):
        collect_inputs([tmp_path / "empty"])
    with pytest.raises(InputError, match=r"nope\.jpg: no such file or folder"):
        collect_inputs([tmp_path / "nope.jpg"])
    with pytest.raises(InputError, match="no image files match"):
        collect_inputs([str(tmp_path / "*.png")])
    with pytest.raises(InputError, match="no input given"):
        collect_inputs([])


def test_glob_files_and_duplicate_names(tmp_path):
    a = _save(tmp_path / "a" / "img.jpg")
    b = _save(tmp_path / "b" / "img.jpg", seed=1)
    c = _save(tmp_path / "a" / "other.jpg", seed=2)
    frames = collect_inputs([str(tmp_path / "a" / "*.jpg"), b, a])  # a given twice: used once
    assert [f.path for f in frames] == [a, c, b]
    assert [f.name for f in frames] == ["a/img.jpg", "a/other.jpg", "b/img.jpg"]


def test_odd_images_load_upright_with_their_original_sizes(tmp_path):
    rgba = Image.fromarray(np.dstack([textured(150, 100), np.full((100, 150), 128, np.uint8)]), "RGBA")
    rgba.save(tmp_path / "rgba.png")
    Image.fromarray(textured(150, 100)[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(textured(150, 100)[..., 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait
    _save(tmp_path / "rotated.jpg", 150, 100, exif=exif)
    frames = collect_inputs([tmp_path])
    images, metas = load_frames(frames, "pad", 224)
    assert images.shape == (4, 3, 224, 224)
    sizes = {Path(m.source).name: m.original_size for m in metas}
    assert sizes == {"rgba.png": (150, 100), "grey.png": (150, 100), "deep.png": (150, 100), "rotated.jpg": (100, 150)}
    deep, grey = metas[0], metas[1]
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # really 16-bit on disk
    np.testing.assert_allclose(images[0], images[1], atol=1 / 255)  # 16-bit maps onto the 8-bit image
    assert deep.model_size == grey.model_size


def test_corrupt_and_truncated_images_name_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageLoadError, match="bad.jpg"):
        load_frames(collect_inputs([tmp_path / "bad.jpg"]), "crop", 224)
    good = _save(tmp_path / "full.jpg", 400, 300)
    data = good.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageLoadError, match="cut.jpg"):
        load_frames(collect_inputs([tmp_path / "cut.jpg"]), "crop", 224)


def test_large_images_are_decoded_reduced_but_mapped_to_original_pixels(tmp_path, monkeypatch):
    big = _save(tmp_path / "big.jpg", 1600, 1200, quality=95)
    reference_tensor, reference_meta = load_images([str(big)], "crop", 224, return_meta=True)
    monkeypatch.setattr(inputs_mod, "LARGE_IMAGE_PIXELS", 500_000)
    images, metas = load_frames(collect_inputs([big]), "crop", 224)
    meta, ref = metas[0], reference_meta[0]
    assert meta.original_size == (1600, 1200) and meta.model_size == ref.model_size
    np.testing.assert_allclose(meta.scale, ref.scale, rtol=1e-9)
    np.testing.assert_allclose(meta.offset, ref.offset)
    k = np.array([[200.0, 0, 112], [0, 200.0, 84], [0, 0, 1]])
    np.testing.assert_allclose(meta.intrinsics_to_original(k), ref.intrinsics_to_original(k), rtol=1e-9)
    # a different decoding path, the same picture
    assert float((images - reference_tensor).abs().mean()) < 0.02


def _write_video(path: Path, frames: int = 12, size: tuple[int, int] = (160, 128)) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        base = textured(size[0] + frames * 4, size[1])
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i * 4 : i * 4 + size[0]]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_frames_sampled_by_count_and_by_fps(tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    frames = collect_inputs([video], max_frames=3)
    assert [f.name for f in frames] == ["clip_00000.jpg", "clip_00001.jpg", "clip_00002.jpg"]
    times = [float(f.source.rsplit("@", 1)[1][:-1]) for f in frames]
    assert times == pytest.approx([0.0, 0.6, 1.1], abs=1e-6)  # frames 0, 6 and 11 of 12 at 10 fps
    by_fps = collect_inputs([video], fps=2.5)  # one frame every 0.4 s of 1.2 s
    assert len(by_fps) == 3
    images, metas = load_frames(frames, "crop", 224)
    assert images.shape[0] == 3 and metas[0].original_size == (160, 128) and metas[0].source.startswith(str(video))


def test_undecodable_video_is_a_clear_error(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(InputError, match=r"broken\.mp4: cannot decode video"):
        collect_inputs([tmp_path / "broken.mp4"])
    with pytest.raises(InputError, match="--max-frames must be at least 1"):
        collect_inputs([tmp_path / "broken.mp4"], max_frames=0)
