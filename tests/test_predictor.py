"""Predictor: every input form, the model's own numbers, decoded cameras, intermediates, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from openvggt import Predictor, PredictorOutput
from openvggt.errors import InputError, UserError
from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.io.checkpoint import save_model
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.models.pretrained import DEFAULT_MODEL_CAVEAT, DEFAULT_WEIGHTS

SIZE = 56


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return random_model(VGGTConfig.preset("vggt-tiny"))


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor(model=model, device="cpu", dtype="fp32", size=SIZE)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    paths = []
    for i, a in enumerate(arrays):
        paths.append(folder / f"{i}.png")
        Image.fromarray(a).save(paths[-1])
    return paths, arrays


def test_paths_arrays_and_pil_images_give_the_same_output(predictor, photos):
    paths, arrays = photos
    by_path = predictor(paths)
    by_array = predictor(arrays)
    by_pil = predictor([Image.fromarray(a) for a in arrays])
    assert isinstance(by_path, PredictorOutput)
    for other in (by_array, by_pil):
        torch.testing.assert_close(other.depth, by_path.depth, rtol=0, atol=0)
        torch.testing.assert_close(other.pose_enc, by_path.pose_enc, rtol=0, atol=0)
    assert [m.original_size for m in by_path.metas] == [(80, 60)] * 3


def test_outputs_are_the_models_own_with_decoded_cameras(predictor, model):
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    out = predictor(images)
    with torch.inference_mode():
        ref = model(images)
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=0)
    extr, intr = pose_encoding_to_extri_intri(ref.pose_enc, (SIZE, SIZE))
    torch.testing.assert_close(out.extrinsic, extr)
    torch.testing.assert_close(out.intrinsic, intr)
    assert out.extrinsic.shape == (1, 2, 3, 4) and out.intrinsic.shape == (1, 2, 3, 3)
    assert out.depth.device.type == "cpu" and out.depth.dtype == torch.float32
    assert "extrinsic" in out.keys() and out.metas is None  # tensors carry no metas


def test_a_batch_of_scenes(predictor):
    images = torch.rand(2, 3, 3, SIZE, SIZE)  # [B, S, 3, H, W]
    out = predictor(images)
    assert out.depth.shape == (2, 3, SIZE, SIZE, 1) and out.extrinsic.shape == (2, 3, 3, 4)


def test_heads_subset_and_tracks(predictor):
    images = torch.rand(2, 3, SIZE, SIZE)
    depth_only = predictor(images, heads=("depth",))
    assert depth_only.pose_enc is None and depth_only.extrinsic is None and depth_only.depth is not None
    queries = torch.tensor([[10.0, 20.0], [30.0, 40.0]])
    with pytest.raises(InputError, match="at least 128 px"):
        predictor(images, query_points=queries)
    tracked = predictor(torch.rand(2, 3, 140, 140), query_points=queries)
    assert tracked.track.shape == (1, 2, 2, 2) and tracked.vis.shape == (1, 2, 2)


def test_kept_intermediates_reproduce_the_heads(predictor, model):
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    out = predictor(images, heads=("camera",), keep_intermediates=True)
    inter = out.intermediates
    assert set(model.layers_for(("track",))) <= set(inter.layers)
    with torch.inference_mode():
        again = model.forward_heads(inter, ("camera",))
    torch.testing.assert_close(again.pose_enc, out.pose_enc, rtol=0, atol=0)


def test_forward_intermediates_keeps_only_the_asked_layers(model):
    images = torch.rand(1, 2, 3, SIZE, SIZE)
    with torch.inference_mode():
        inter = model.forward_intermediates(images, layers=[-1, 0])
        full = model(images)
        split = model.forward_heads(model.forward_intermediates(images), ("camera", "depth", "point"))
    depth = model.config.depth
    assert inter.layers == (0, depth - 1)
    c = model.config.embed_dim
    tokens = inter.tokens[depth - 1]
    assert tokens.shape[-1] == 2 * c
    torch.testing.assert_close(torch.cat([inter.frame_tokens(depth - 1), inter.global_tokens(depth - 1)], -1), tokens)
    h = w = SIZE // model.config.patch_size
    assert inter.patch_grid(0).shape == (1, 2, h, w, 2 * c)
    torch.testing.assert_close(inter.camera_tokens(depth - 1), tokens[:, :, 0])
    torch.testing.assert_close(split.depth, full.depth, rtol=0, atol=0)
    with pytest.raises(ValueError, match="read layers"):
        model.forward_heads(inter, ("depth",))  # the DPT head reads layers these intermediates lack


def test_loading_weights_with_a_subset_of_heads(tmp_path, model):
    path = save_model(model, tmp_path / "tiny.safetensors")
    p = Predictor(path, device="cpu", dtype="fp32", heads=("camera", "depth"))
    assert p.model.enabled_heads() == ("camera", "depth") and p.heads == ("camera", "depth")
    assert "tiny.safetensors" in repr(p)
    with pytest.raises(UserError, match="no point head"):
        p(torch.rand(1, 3, SIZE, SIZE), heads=("point",))


def test_the_shipped_model_warns_that_its_cameras_are_near_chance(tmp_path, model, caplog):
    """Loading the shipped default weights (by name or by path) logs the model card's caveat; other weights and a
    model passed in do not."""
    with caplog.at_level("WARNING", logger="openvggt.predictor"):
        Predictor("default", device="cpu", dtype="fp32", heads=("camera",))
        Predictor(DEFAULT_WEIGHTS, device="cpu", dtype="fp32", heads=("camera",))
        Predictor(save_model(model, tmp_path / "tiny.safetensors"), device="cpu", dtype="fp32")
        Predictor(model=model, device="cpu", dtype="fp32")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [DEFAULT_MODEL_CAVEAT, DEFAULT_MODEL_CAVEAT]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(2, 3, 50, 56), "multiples of 14"),
        (torch.rand(3, 56, 56), r"\[S, 3, H, W\]"),
        ([], "no images"),
        (["/nonexistent/a.jpg"], "a.jpg"),
    ],
)
def test_bad_images_are_user_errors(predictor, images, message):
    with pytest.raises(UserError, match=message):
        predictor(images)


def test_bad_construction(model):
    with pytest.raises(UserError, match="either weights or model"):
        Predictor("default", model=model)
    with pytest.raises(UserError, match="mode"):
        Predictor(model=model, device="cpu", mode="stretch")
    with pytest.raises(UserError, match="multiple of the patch size"):
        Predictor(model=model, device="cpu", size=50)
    with pytest.raises(UserError, match="unknown head"):
        Predictor(model=model, device="cpu", dtype="fp32")(torch.rand(1, 3, SIZE, SIZE), heads=("normals",))
    with pytest.raises(InputError):
        Predictor(model=model, device="cpu", dtype="fp32")(torch.rand(1, 3, 3, SIZE))


def test_tracks_from_weights_loaded_in_bf16(tmp_path, model):
    """bf16 loading keeps the track head in float32 (its coordinates and norms need it) and tracks still run."""
    path = save_model(model, tmp_path / "tiny.safetensors")
    p = Predictor(path, device="cpu", dtype="bf16")
    assert p.model.aggregator.camera_token.dtype == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in p.model.track_head.parameters())
    out = p(torch.rand(2, 3, 140, 140), query_points=torch.tensor([[30.0, 40.0]]))
    assert torch.isfinite(out.track).all() and out.track.shape == (1, 2, 1, 2)
