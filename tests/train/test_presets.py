"""Every training preset resolves to a valid model config, and the JSON round trip (config.json) keeps it."""

from __future__ import annotations

import pytest
import torch

from openvggt.models.pretrained import read_state_dict, resolve_source
from openvggt.models.vggt import VGGT
from openvggt.train.config import TRAIN_PRESETS, TrainConfig
from openvggt.train.trainer import load_init_weights


@pytest.mark.parametrize("name", sorted(TRAIN_PRESETS))
def test_preset_builds_its_model_config(name: str) -> None:
    cfg = TRAIN_PRESETS[name]
    model = cfg.model_config()  # raises on an invalid combination (e.g. positions on a DINOv2 embedder)
    assert TrainConfig.from_dict(cfg.to_dict()).model_config() == model


def test_gpu_recipe_trains_a_trunk_with_positions_and_matching_attention() -> None:
    """The recipe fired on a lent GPU starts from scratch with the two fixes of docs/training_study.md §10-11."""
    cfg = TRAIN_PRESETS["small-synthetic-gpu"]
    model = cfg.model_config()
    assert cfg.init is None
    assert (model.patch_embed.arch, model.patch_embed.pos_embed) == ("conv", "sincos")
    assert cfg.loss["attn_match_weight"] > 0
    assert all((model.enable_camera, model.enable_depth, model.enable_point, model.enable_track))


def test_model_overrides_reach_into_a_preset_named_model() -> None:
    """``model.a.b=v`` on a config whose model is a preset name edits that preset's full config."""
    cfg = TRAIN_PRESETS["debug-tiny"]
    assert isinstance(cfg.model, str)
    model = cfg.override(["model.camera_head.motion=match", "model.embed_dim=128"]).model_config()
    want = TrainConfig(model=cfg.model).model_config()
    assert (model.camera_head.motion, model.embed_dim) == ("match", 128)
    assert model.depth == want.depth and model.patch_embed == want.patch_embed
    with pytest.raises(ValueError, match="unknown config key"):
        cfg.override(["model.camera_head.nonsense.x=1"])


def test_continuation_starts_from_every_head_of_the_shipped_weights() -> None:
    """Stage 4 of the CPU run (benchmarks/long_run_cont.sh) trains on from the shipped model: its config must take
    every tensor of the default weights, leaving no head fresh, and read scenes no earlier stage saw."""
    cfg = TRAIN_PRESETS["small-synthetic-long-cont"]
    assert cfg.init == "default"
    assert cfg.data.root != TRAIN_PRESETS["small-synthetic-long-heads"].data.root
    model = VGGT(cfg.model_config())
    assert load_init_weights(model, cfg.init) == ()
    shipped, _ = read_state_dict(resolve_source("default")[0], torch.float32)
    own = model.state_dict()
    assert set(own) == set(shipped)
    key = next(k for k in own if k.startswith("depth_head."))
    torch.testing.assert_close(own[key], shipped[key])
