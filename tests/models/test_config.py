from __future__ import annotations

import json

import pytest
import torch

from openvggt.models.config import PRESETS, VGGTConfig
from openvggt.models.vggt import VGGT
from tests.conftest import shared_path


def test_from_dict_uses_official_defaults_for_missing_knobs():
    cfg = VGGTConfig.from_dict({"embed_dim": 64, "num_heads": 4, "dpt": {"features": 32}})
    assert cfg.embed_dim == 64 and cfg.dpt.features == 32
    assert cfg.dpt.out_channels == (256, 512, 1024, 1024)  # default kept
    assert cfg.rope_freq == 100 and cfg.num_register_tokens == 4 and cfg.qk_norm


def test_from_dict_rejects_unknown_knobs():
    with pytest.raises(ValueError, match="unknown"):
        VGGTConfig.from_dict({"embed_dims": 64})
    with pytest.raises(ValueError, match="unknown"):
        VGGTConfig.from_dict({"dpt": {"feature": 3}})


def test_from_dict_accepts_official_patch_embed_names():
    cfg = VGGTConfig.from_dict({"patch_embed": "dinov2_vitb14_reg"})
    assert (cfg.patch_embed.depth, cfg.patch_embed.num_heads) == (12, 12)
    assert VGGTConfig.from_dict({"patch_embed": "conv"}).patch_embed.arch == "conv"


def test_round_trip_through_dict():
    for cfg in PRESETS.values():
        assert VGGTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        VGGTConfig().embed_dim = 3  # type: ignore[misc]


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError):
        VGGTConfig(depth=5, aa_block_size=2)
    with pytest.raises(ValueError):
        VGGTConfig(attention="sparse")
    with pytest.raises(KeyError, match="vggt-1b"):
        VGGTConfig.preset("vggt-2b")


def test_vggt_1b_state_dict_equals_manifest():
    manifest = json.loads(shared_path("spec", "vggt1b_manifest.json").read_text())
    with torch.device("meta"):
        model = VGGT(VGGTConfig.preset("vggt-1b"))
    state = model.state_dict()
    ours = {k: list(v.shape) for k, v in state.items()}
    assert ours == manifest["tensors"]
    assert list(ours) == list(manifest["tensors"])  # registration order too
    assert len(state) == manifest["n_tensors"] == 1797
    assert sum(v.numel() for v in state.values()) == manifest["n_values"] == 1_256_537_516


def test_fixture_config_matches_fixture_weights():
    d = shared_path("fixtures", "parity_tiny")
    from safetensors.torch import load_file

    cfg = VGGTConfig.from_dict(json.loads((d / "meta.json").read_text())["config"])
    with torch.device("meta"):
        model = VGGT(cfg)
    ref = load_file(str(d / "state_dict.safetensors"))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in ref.items()}


@pytest.mark.parametrize("name", ["vggt-tiny", "vggt-small"])
def test_small_presets_build_and_run(name):
    from openvggt.models.init import random_model

    model = random_model(VGGTConfig.preset(name).with_heads(track=False))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 28, 42))
    assert out.depth.shape == (1, 2, 28, 42, 1)
    assert torch.isfinite(out.pose_enc).all()
