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
