"""Every training preset resolves to a valid model config, and the JSON round trip (config.json) keeps it."""

from __future__ import annotations

import pytest

from openvggt.train.config import TRAIN_PRESETS, TrainConfig


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
