"""The conv patch embedder's optional sine-cosine positions: the table, the layer, the config and a saved model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from openvggt.io.checkpoint import load_model, save_model
from openvggt.layers import PatchEmbed, sincos_table
from openvggt.models.config import PatchEmbedConfig, VGGTConfig
from openvggt.models.init import random_model


def test_table_codes_every_patch_apart_and_ignores_grid_size() -> None:
    table = sincos_table(37, 37, 256)  # the largest grid the 1B resolution uses
    assert table.shape == (37 * 37, 256) and table.dtype == torch.float32
    assert table.abs().max() <= 1.0
    dist = torch.cdist(table, table) + torch.eye(len(table)) * 1e9
    assert dist.min() > 0.5  # no two patches share (nearly) a code
    # patch (r, c) has the same code in an 8x12 grid as in a 12x8 one: integer indices, not normalised ones
    wide, tall = sincos_table(8, 12, 64), sincos_table(12, 8, 64)
    for r, c in ((0, 0), (3, 5), (7, 7)):
        assert torch.equal(wide[r * 12 + c], tall[r * 8 + c])
    # rows live in the first half of the channels, columns in the second
    assert torch.equal(wide[0, 32:], wide[12, 32:]) and not torch.equal(wide[0, :32], wide[12, :32])
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_table(2, 2, 30)


def test_layer_adds_the_table_to_the_convolution() -> None:
    torch.manual_seed(0)
    plain, posed = PatchEmbed(14, 64), PatchEmbed(14, 64, pos_embed="sincos")
    posed.load_state_dict(plain.state_dict())  # no new parameters
    assert set(posed.state_dict()) == {"proj.weight", "proj.bias"}
    x = torch.randn(2, 3, 56, 84)
    assert torch.allclose(posed(x), plain(x) + sincos_table(4, 6, 64), atol=1e-6)
    with pytest.raises(ValueError, match="unknown pos_embed"):
        PatchEmbed(14, 64, pos_embed="learned")


def _two_layers(patch_embed: PatchEmbedConfig) -> VGGTConfig:
    tiny = VGGTConfig.preset("vggt-tiny")
    dpt = dataclasses.replace(tiny.dpt, intermediate_layer_idx=(0, 1, 1, 1))
    return dataclasses.replace(tiny, depth=2, dpt=dpt, patch_embed=patch_embed)


def test_positions_reach_the_trunk_only_with_the_table() -> None:
    """The property the table is for. On a uniform image every patch has the same content; a position-free
    convolution then gives every patch token nearly the same value: RoPE moves attention weights, never values, and
    only its border effects (a corner patch sees other offsets than a central one, so it weighs the camera and
    register tokens differently) leak a trace of position. With the table every patch's token differs."""
    base = _two_layers(PatchEmbedConfig(arch="conv")).with_heads(camera=False, depth=False, point=False, track=False)
    posed = dataclasses.replace(base, patch_embed=PatchEmbedConfig(arch="conv", pos_embed="sincos"))
    images = torch.full((1, 2, 3, 84, 84), 0.4, dtype=torch.float64)
    spread = {}
    for name, cfg in (("none", base), ("sincos", posed)):
        agg = random_model(cfg, seed=3, dtype=torch.float64).aggregator
        with torch.no_grad():
            out, start = agg(images, layers=[-1])
        tokens = out[1][0, :, start:].reshape(-1, out[1].shape[-1]).double()  # [2 frames * 36 patches, 2C]
        dist = torch.cdist(tokens[:36], tokens[:36]) + torch.eye(36, dtype=torch.float64) * 1e9
        spread[name] = (float(dist.min()), float((tokens[:36] - tokens[:36].mean(0)).norm(dim=1).max()))
    assert spread["none"][1] < 1e-3 * spread["sincos"][1], spread  # all 36 patches of a frame: ~one token
    assert spread["sincos"][0] > 0.1, spread  # every pair of patches told apart


def test_config_checks_and_round_trips(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown patch_embed.pos_embed"):
        PatchEmbedConfig(arch="conv", pos_embed="learned")
    with pytest.raises(ValueError, match="arch='conv' only"):
        PatchEmbedConfig(pos_embed="sincos")  # DINOv2
    assert PatchEmbedConfig().pos_embed == "none"  # files written before the option load unchanged
    cfg = _two_layers(PatchEmbedConfig(arch="conv", pos_embed="sincos")).with_heads(point=False, track=False)
    assert VGGTConfig.from_dict(cfg.to_dict()) == cfg
    model = random_model(cfg, seed=0)
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path).eval()
    assert loaded.config.patch_embed.pos_embed == "sincos"
    images = torch.rand(1, 2, 3, 56, 56)
    with torch.no_grad():
        assert torch.allclose(model(images)["depth"], loaded(images)["depth"], atol=1e-6)
