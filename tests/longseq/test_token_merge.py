from __future__ import annotations

import torch

from openvggt.layers.token_merge import merge_plan
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model


def _model():
    torch.manual_seed(0)
    return random_model(VGGTConfig.preset("vggt-tiny")).eval()


def test_ratio_zero_is_bit_identical_to_exact_mode():
    model = _model()
    images = torch.rand(1, 5, 3, 56, 84)
    with torch.inference_mode():
        exact = model(images, heads=("camera", "depth"))
        model.aggregator.merge_ratio = 0.0
        zero = model(images, heads=("camera", "depth"))
        model.aggregator.merge_ratio = 0.5
        merged = model(images, heads=("camera", "depth"))
    assert torch.equal(exact.depth, zero.depth) and torch.equal(exact.pose_enc, zero.pose_enc)
    assert torch.equal(exact.depth_conf, zero.depth_conf)
    assert merged.depth.shape == exact.depth.shape
    assert not torch.equal(merged.depth, exact.depth)  # merging did change the computation
    assert torch.isfinite(merged.depth).all()


def test_merge_plan_never_touches_frame_zero_or_special_tokens():
    frames, start, hw = 4, 5, (6, 8)
    p = start + hw[0] * hw[1]
    y = torch.randn(frames * p, 16)
    keep, src, dst = merge_plan(y, frames, start, hw, ratio=0.75)
    assert len(src) == round(0.75 * (frames - 1) * hw[0] * hw[1] * 3 / 4)
    frame, local = src // p, src % p
    assert (frame >= 1).all() and (local >= start).all()
    assert torch.equal(dst // p, frame)  # merged within its own frame
    assert set(keep.tolist()).isdisjoint(src.tolist()) and len(keep) + len(src) == frames * p
    assert set(dst.tolist()) <= set(keep.tolist())
    assert torch.equal(merge_plan(y, frames, start, hw, 0.0)[0], torch.arange(frames * p))
