"""Options of ``reconstruct`` through the Python API (a loaded tiny model, no files written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from openvggt.cli import main
from openvggt.errors import InputError, UserError
from openvggt.io.images import ImageLoadError
from openvggt.pipeline import reconstruct
from tests.pipeline.conftest import SIZE, textured


def test_point_map_option_uses_the_point_head(tiny_model, image_folder):
    rec = reconstruct([image_folder], model=tiny_model, size=SIZE, use_point_map=True, conf_threshold=0.0)
    assert rec.world_points is not None and rec.world_points.shape == (3, 154, 224, 3)
    cloud = rec.world_points[rec.valid & np.isfinite(rec.world_points).all(-1)]
    # every point of the cloud is a point-head point (conf_threshold 0 keeps all valid pixels)
    assert len(rec.points) == len(cloud)
    np.testing.assert_allclose(np.sort(rec.points[:, 0]), np.sort(cloud[:, 0]), rtol=1e-6)
    depth_rec = reconstruct([image_folder], model=tiny_model, size=SIZE, conf_threshold=0.0)
    assert depth_rec.world_points is None and not np.allclose(depth_rec.points[:100], rec.points[:100])


def test_confidence_percentile_keeps_the_confident_half(tiny_model, image_folder):
    rec = reconstruct([image_folder], model=tiny_model, size=SIZE, conf_threshold=50.0, dtype="fp32")
    conf = rec.depth_conf[rec.valid]
    assert len(rec.points) == pytest.approx(0.5 * conf.size, rel=0.02)
    assert rec.points_conf.min() >= np.percentile(conf, 50) - 1e-6


def test_bf16_runs_and_returns_float32(tiny_model, image_folder):
    rec = reconstruct([image_folder], model=tiny_model, size=SIZE, dtype="bf16")
    ref = reconstruct([image_folder], model=tiny_model, size=SIZE)
    assert rec.depth.dtype == np.float32 and np.isfinite(rec.depth).all()
    assert np.abs(rec.depth - ref.depth).max() < 0.1 * np.abs(ref.depth).max()


def test_option_errors(tiny_model, image_folder, tmp_path):
    with pytest.raises(UserError, match="fp16 is not supported on CPU"):
        reconstruct([image_folder], model=tiny_model, size=SIZE, dtype="fp16")
    with pytest.raises(InputError, match="percentile"):
        reconstruct([image_folder], model=tiny_model, conf_threshold=100.0)
    with pytest.raises(InputError, match="multiple of 14"):
        reconstruct([image_folder], model=tiny_model, size=100)
    with pytest.raises(InputError, match=r"at least 128 px per side; this one is 168x126: use --mode pad"):
        reconstruct([image_folder], model=tiny_model, size=168, ba=True)
    Image.fromarray(textured(140, 196)).save(image_folder / "portrait.jpg")
    with pytest.raises(InputError, match="--shared-camera needs images of one size; these differ: 140x196, 196x140"):
        reconstruct([image_folder], model=tiny_model, size=SIZE, shared_camera=True)


def test_ba_raises_a_too_small_default_input_to_what_tracks_need(tiny_model, image_folder):
    """A model whose default width gives 168x126 inputs: --ba without --size widens them to >= 128 px a side."""
    from openvggt.pipeline.inputs import collect_inputs, load_frames
    from openvggt.predictor import Predictor

    predictor = Predictor(model=tiny_model, device="cpu", size=168)
    rec = reconstruct([image_folder], predictor=predictor, ba=True)
    width = rec.depth.shape[-1]
    assert min(rec.depth.shape[-2:]) >= 128 and width > 168
    smaller, _ = load_frames(collect_inputs([image_folder])[:1], "crop", width - 14)
    assert min(smaller.shape[-2:]) < 128  # the smallest width that fits
    assert "tracking" in rec.timings  # the tracks ran (a random model's tracks may then be too poor for BA)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_unavailable_device_is_one_line(tmp_path, image_folder, tiny_weights, capsys):
    args = ["reconstruct", str(image_folder), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)]
    assert main([*args, "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_weights_without_a_needed_head_are_named(tmp_path, image_folder):
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    weights = tmp_path / "no-track.safetensors"
    save_model(random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False, point=False)), weights)
    with pytest.raises(
        InputError,
        match=r"no-track\.safetensors: these weights have no track head \(--ba and `openvggt track` need it\)",
    ):
        reconstruct([image_folder], weights=weights, size=SIZE, ba=True)
    with pytest.raises(InputError, match=r"no point head \(--use-point-map needs it\)"):
        reconstruct([image_folder], weights=weights, size=SIZE, use_point_map=True)
    assert len(reconstruct([image_folder], weights=weights, size=SIZE).names) == 3  # camera + depth suffice
    from openvggt.pipeline import track_points

    with pytest.raises(InputError, match="no track head"):
        track_points([image_folder], np.array([[0, 10.0, 10.0]]), weights=weights, size=SIZE)


def test_images_in_memory(tiny_model, tmp_path):
    frames = [textured(196, 140, seed=0), textured(196, 140, seed=1).astype(np.float32) / 255]
    pil = Image.fromarray(textured(196, 140, seed=2))
    rec = reconstruct([*frames, pil], model=tiny_model, size=SIZE)
    assert rec.names == ["image_00000.png", "image_00001.png", "image_00002.png"]
    assert [f.source for f in rec.frames] == ["<array #0>", "<array #1>", "<PIL image #2>"]
    assert rec.sizes == [(196, 140)] * 3
    out = rec.save(tmp_path / "out")
    saved = np.asarray(Image.open(out / "images" / "image_00000.png"))
    np.testing.assert_array_equal(saved, frames[0])  # lossless
    with pytest.raises(ImageLoadError, match=r"<array #0>: expected an \[H, W\], \[H, W, 3\] or \[H, W, 4\] array"):
        reconstruct([np.zeros((5, 5, 2), np.uint8)], model=tiny_model, size=SIZE)
