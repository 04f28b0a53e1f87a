"""int8 inference: which layers are quantised, agreement with fp32, the Predictor switch, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from openvggt import Predictor, runtime
from openvggt.errors import UserError
from openvggt.layers import Linear
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.quant import Int8Linear, count_int8_linears, int8_engines, quantize_int8

pytestmark = pytest.mark.skipif(not int8_engines(), reason="this torch build has no fbgemm/oneDNN quantised engine")


@pytest.fixture(scope="module")
def tiny():
    return random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False), seed=3)


@pytest.fixture(scope="module")
def images():
    return torch.rand(1, 2, 3, 56, 84, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("engine", int8_engines())
def test_int8_linear_close_to_float(engine):
    torch.backends.quantized.engine = engine
    torch.manual_seed(0)
    lin = Linear(256, 512)
    nn.init.normal_(lin.weight, std=0.05)
    x = torch.randn(300, 256)
    q = Int8Linear.from_float(lin)
    assert q.reduce_range == (engine != "onednn")
    q.reduce_range = runtime.int8_reduce_range(engine)  # 7 bits wherever the kernels would saturate (AVX2)
    with torch.no_grad():
        ref, out = lin(x), q(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    err = ((out - ref).norm() / ref.norm()).item()
    assert 1e-5 < err < 0.03  # quantised (not a float pass-through), yet close


def test_int8_linear_weight_is_symmetric_per_channel():
    lin = nn.Linear(40, 24)
    q = Int8Linear.from_float(lin)
    assert (q.in_features, q.out_features) == (40, 24)
    weight = q.weight()  # the packed weight, unpacked
    assert weight.shape == (24, 40) and weight.qscheme() == torch.per_channel_affine
    scale = lin.weight.detach().abs().amax(dim=1) / 127.0
    assert torch.allclose(weight.q_per_channel_scales().float(), scale)
    assert torch.equal(weight.q_per_channel_zero_points(), torch.zeros(24, dtype=torch.int64))
    ints = weight.int_repr()
    assert ints.abs().amax(dim=1).eq(127).all()  # each row's largest weight maps to +-127
    assert torch.equal(ints, torch.round(lin.weight.detach() / scale[:, None]).to(torch.int8))
    # the bias is kept in float
    assert torch.equal(q.bias(), lin.bias.detach())


def test_int8_linear_rejects_other_modules():
    with pytest.raises(TypeError, match="nn.Linear"):
        Int8Linear.from_float(nn.Conv2d(3, 3, 1))


def test_quantize_replaces_linears_and_keeps_small_ones(tiny):
    model = quantize_int8(copy.deepcopy(tiny))
    n = count_int8_linears(model)
    assert n > 0
    for block in model.aggregator.frame_blocks:
        assert isinstance(block.attn.qkv, Int8Linear) and isinstance(block.mlp.fc2, Int8Linear)
    assert isinstance(model.camera_head.embed_pose, nn.Linear)  # 9 inputs: left in float
    assert not any(isinstance(m, nn.Linear) and not isinstance(m, Int8Linear)
                   for name, m in model.aggregator.named_modules())  # fmt: skip
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_quantized_model_agrees_with_fp32(tiny, images):
    q = quantize_int8(copy.deepcopy(tiny))
    with torch.inference_mode():
        ref, out = tiny(images), q(images)
    rel_depth = ((out.depth - ref.depth).abs() / ref.depth).median().item()
    assert 0 < rel_depth < 0.02
    assert torch.allclose(out.pose_enc, ref.pose_enc, atol=0.05)


def test_quantize_from_bf16_weights_gives_fp32_rest(tiny, images):
    q = quantize_int8(copy.deepcopy(tiny).to(torch.bfloat16))
    assert all(p.dtype == torch.float32 for p in q.parameters())
    with torch.inference_mode():
        out = q(images)
    assert out.depth.dtype == torch.float32 and torch.isfinite(out.depth).all()


def test_quantize_rejects_unknown_engine(tiny):
    with pytest.raises(UserError, match="engine"):
        quantize_int8(copy.deepcopy(tiny), engine="qnnpack-nope")


def test_predictor_int8(tiny, images):
    pred = Predictor(model=copy.deepcopy(tiny), device="cpu", dtype="int8")
    assert pred.dtype == "int8" and count_int8_linears(pred.model) > 0
    out = pred(images)
    assert out.depth.shape == (1, 2, 56, 84, 1) and out.extrinsic.shape == (1, 2, 3, 4)
    assert "int8" in repr(pred)
    want = runtime.int8_reduce_range(torch.backends.quantized.engine)
    assert {m.reduce_range for m in pred.model.modules() if isinstance(m, Int8Linear)} == {want}


@pytest.mark.parametrize("reduce_range", [True, False])
def test_quantize_sets_the_activation_bits(tiny, reduce_range):
    q = quantize_int8(copy.deepcopy(tiny), reduce_range=reduce_range)
    assert {m.reduce_range for m in q.modules() if isinstance(m, Int8Linear)} == {reduce_range}


def test_predictor_int8_loads_weights_without_fp32_copy(tmp_path, tiny):
    from openvggt.io.checkpoint import save_model

    path = save_model(tiny, tmp_path / "w.safetensors")
    pred = Predictor(path, device="cpu", dtype="int8")
    assert count_int8_linears(pred.model) == count_int8_linears(quantize_int8(copy.deepcopy(tiny)))


def test_predictor_int8_not_on_other_devices(tiny):
    with pytest.raises(UserError, match="CPU only"):
        Predictor(model=tiny, device="meta", dtype="int8")


def test_predictor_refuses_int8_with_compile(tiny):
    with pytest.raises(UserError, match="compile=True does not work with dtype int8"):
        Predictor(model=tiny, device="cpu", dtype="int8", compile=True)
