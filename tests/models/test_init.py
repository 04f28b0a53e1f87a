from __future__ import annotations

import torch

from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model


def test_random_init_is_seeded_and_leaves_nothing_uninitialised():
    cfg = VGGTConfig.preset("vggt-tiny")
    a, b, c = random_model(cfg, seed=1), random_model(cfg, seed=1), random_model(cfg, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(
        sa["aggregator.frame_blocks.0.attn.qkv.weight"], sc["aggregator.frame_blocks.0.attn.qkv.weight"]
    )
    # Every weight matrix gets a real distribution (to_empty leaves garbage or zeros otherwise).
    for name, p in a.named_parameters():
        if "mask_token" in name or "empty_pose" in name:
            continue
        if name.endswith(("camera_token", "register_token", "cls_token", "register_tokens")):
            assert 1e-7 < p.float().std() < 1e-5, name  # official: N(0, 1e-6)
        elif p.ndim >= 2:
            assert p.float().std() > 1e-4, name
    assert torch.allclose(sa["aggregator.frame_blocks.0.ls1.gamma"], torch.full((64,), 0.01))
    assert torch.allclose(sa["aggregator.patch_embed.blocks.0.ls1.gamma"], torch.ones(64))


def test_random_init_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False), seed=5)
    assert torch.equal(torch.rand(3), expected)
