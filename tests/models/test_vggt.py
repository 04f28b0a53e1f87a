"""Behaviour of the VGGT module beyond parity: inputs, head subsets, memory, precision paths."""

from __future__ import annotations

import pytest
import torch

from openvggt.layers import Attention
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.models.vggt import VGGT, VGGTOutput


@pytest.fixture(scope="module")
def model() -> VGGT:
    torch.manual_seed(0)
    return random_model(VGGTConfig.preset("vggt-tiny"), seed=0)


def _images(s=2, h=28, w=42, b=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (s, 3, h, w) if b is None else (b, s, 3, h, w)
    return torch.rand(shape, generator=g)


def test_four_and_five_dim_inputs_agree(model):
    x = _images()
    with torch.no_grad():
        a, b = model(x), model(x[None])
    assert torch.equal(a.depth, b.depth) and torch.equal(a.pose_enc, b.pose_enc)


def test_batch_elements_are_independent(model):
    x = _images(b=2)
    with torch.no_grad():
        both = model(x)
        first = model(x[:1])
    torch.testing.assert_close(both.depth[:1], first.depth, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both.pose_enc[:1], first.pose_enc, rtol=1e-4, atol=1e-5)


def test_output_is_a_mapping_with_official_names(model):
    with torch.no_grad():
        out = model(_images())
    assert isinstance(out, VGGTOutput)
    assert set(out.keys()) == {
        "pose_enc",
        "pose_enc_list",
        "depth",
        "depth_conf",
        "world_points",
        "world_points_conf",
        "images",
    }
    assert out["depth"] is out.depth
    with pytest.raises(KeyError):
        out["track"]
    assert (out.depth > 0).all() and (out.depth_conf > 1).all() and (out.world_points_conf > 1).all()


def test_head_subset_runs_only_those_heads(model, monkeypatch):
    calls = []
    monkeypatch.setattr(model.point_head, "forward", lambda *a, **k: calls.append("point"))
    with torch.no_grad():
        out = model(_images(), heads=("camera", "depth"))
    assert calls == [] and out.world_points is None and out.depth is not None
    assert model.layers_for(("camera",)) == {model.config.depth - 1}


def test_aggregator_keeps_only_requested_layers(model):
    with torch.no_grad():
        tokens, start = model.aggregator(_images()[None], layers=[4, -1])
    assert set(tokens) == {4, model.config.depth - 1} and start == 5


def test_bad_inputs_give_clear_errors(model):
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(_images(h=30))
    with pytest.raises(ValueError, match="expected images"):
        model(torch.rand(3, 28, 42))
    with pytest.raises(ValueError, match="query_points"):
        model(_images(), heads=("track",))
    with pytest.raises(ValueError, match="unknown head"):
        model(_images(), heads=("normals",))


def test_dpt_frame_chunking_does_not_change_results(model):
    x = _images(s=3, h=42, w=56)
    with torch.no_grad():
        tokens, start = model.aggregator(x[None], layers=model.layers_for(("depth",)))
        whole = model.depth_head(tokens, (42, 56), start, frames_chunk_size=None)
        chunked = model.depth_head(tokens, (42, 56), start, frames_chunk_size=1)
    torch.testing.assert_close(whole[0], chunked[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(whole[1], chunked[1], rtol=1e-5, atol=1e-6)


def test_sdpa_equals_explicit_attention():
    torch.manual_seed(0)
    attn = Attention(64, 4, qk_norm=True).double()
    x = torch.randn(2, 17, 64, dtype=torch.float64)
    fused = attn(x)
    Attention.use_sdpa = False
    try:
        explicit = attn(x)
    finally:
        Attention.use_sdpa = True
    torch.testing.assert_close(fused, explicit, rtol=1e-10, atol=1e-12)


def test_cpu_bf16_autocast_path_is_close_to_fp32(model):
    x = _images(s=2, h=42, w=56)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    rel = ((low.depth.float() - ref.depth).abs() / ref.depth).median()
    assert rel < 0.02
    assert (low.pose_enc.float() - ref.pose_enc).abs().max() < 0.05


def test_heads_can_be_forced_to_fp32_under_autocast(model):
    model.heads_fp32 = True
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(_images())
    finally:
        model.heads_fp32 = None
    assert out.depth.dtype == torch.float32 and out.pose_enc.dtype == torch.float32


def test_weight_cast_cache_follows_weight_updates():
    from openvggt.layers import Linear

    lin = Linear(8, 4)
    x = torch.randn(3, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = lin(x)
        lin.weight.mul_(2)  # in-place update bumps the version counter
        after = lin(x)
    torch.testing.assert_close(
        after.float() - lin.bias.to(torch.bfloat16).float(),
        2 * (before.float() - lin.bias.to(torch.bfloat16).float()),
        rtol=2e-2,
        atol=2e-2,
    )
    assert "_cast_cache" not in lin.state_dict()


def test_training_mode_gradients_flow_with_checkpointing():
    model = random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False, point=False)).train()
    model.set_grad_checkpointing(True)
    out = model(_images())
    (out.depth.mean() + out.pose_enc.square().mean()).backward()
    grads = [
        p.grad for n, p in model.named_parameters() if n.startswith("aggregator.frame_blocks.0.") and p.requires_grad
    ]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert out.images is None  # the input is echoed in eval mode only


@pytest.mark.parametrize("mode", ["global", "cross"])
def test_attention_ablation_variants_run(mode):
    cfg = VGGTConfig.from_dict({**VGGTConfig.preset("vggt-tiny").to_dict(), "attention": mode})
    m = random_model(cfg.with_heads(track=False))
    with torch.no_grad():
        out = m(_images(s=3))
    assert torch.isfinite(out.depth).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_runs_heads_in_fp32(model):
    m = random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False), device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        out = m(_images().cuda())
    assert out.depth.dtype == torch.float32
