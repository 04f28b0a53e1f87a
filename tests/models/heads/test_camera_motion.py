"""The camera head's optional patch matcher (``camera_head.motion="match"``): motion field, pooling, wiring."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from openvggt.io.checkpoint import load_model, save_model
from openvggt.models.config import CameraHeadConfig, VGGTConfig
from openvggt.models.heads.camera import (
    CameraHead,
    FrameMotion,
    grid_positions,
    mutual_best,
    window_soft_argmax,
)
from openvggt.models.init import random_model

DIM = 32


def test_window_soft_argmax_finds_the_peak_and_its_sub_patch_offset():
    h, w = 4, 6
    pos = grid_positions(h, w, torch.device("cpu"))  # [24, 2]
    torch.testing.assert_close(pos[[0, -1]], torch.tensor([[-2.5, -1.5], [2.5, 1.5]]) / 6)
    logits = torch.full((1, h * w, h * w), -30.0)
    # query patch 7 (row 1, col 1) matches frame-0 patch 16 (row 2, col 4) exactly: motion (3, 1) patches
    logits[0, 7, 16] = 10.0
    # query patch 0 splits evenly between frame-0 patches 1 and 2 (cols 1 and 2 of row 0): motion 1.5 patches in x
    logits[0, 0, 1] = logits[0, 0, 2] = 10.0
    # query patch 23 has a far-away distractor outside the window of its best match (kept out of the average)
    logits[0, 23, 23] = 10.0
    logits[0, 23, 0] = 9.0
    motion, mass = window_soft_argmax(logits, pos, h, w, radius=1)
    torch.testing.assert_close(motion[0, 7], torch.tensor([3.0, 1.0]) / 6)
    torch.testing.assert_close(motion[0, 0], torch.tensor([1.5, 0.0]) / 6)
    torch.testing.assert_close(motion[0, 23], torch.zeros(2), atol=1e-6, rtol=0)
    assert mass[0, 7] > 0.999 and 0.7 < mass[0, 23] < 0.75  # e^1 / (1 + e^1): the distractor's share is outside


def test_mutual_best_matches():
    logits = torch.tensor([[5.0, 0.0, 0.0], [4.0, 1.0, 0.0], [0.0, 0.0, 3.0]])  # queries 0 and 1 both prefer 0
    torch.testing.assert_close(mutual_best(logits), torch.tensor([1.0, 0.0, 1.0]))


def test_a_shifted_frame_gives_its_shift_and_frame_zero_no_motion():
    torch.manual_seed(0)
    fm = FrameMotion(DIM, desc_dim=16).eval()
    b, h, w = 1, 5, 7
    frame0 = torch.randn(b, 1, h, w, DIM)
    frame1 = torch.roll(frame0, shifts=2, dims=3)  # frame 1's column c shows frame 0's column c - 2
    grid = torch.cat([frame0, frame1], dim=1)  # [B, 2, h, w, C]
    with torch.no_grad():
        fm.match.log_scale.fill_(5.0)  # sharp: a random token is far from every other one
        logits = fm.match(fm.desc(grid.reshape(b, 2, h * w, DIM)))
        motion, mass = window_soft_argmax(logits, grid_positions(h, w, grid.device), h, w, fm.radius)
    motion = motion.reshape(b, 2, h, w, 2)
    torch.testing.assert_close(motion[0, 0], torch.zeros(h, w, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(motion[0, 1, :, 2:, 0], torch.full((h, w - 2), -2.0 / w), atol=1e-5, rtol=0)
    torch.testing.assert_close(motion[0, 1, :, 2:, 1], torch.zeros(h, w - 2), atol=1e-5, rtol=0)
    assert mass.min() > 0.99
    mutual = mutual_best(logits).reshape(b, 2, h, w)
    assert mutual[0, 0].all() and mutual[0, 1, :, 2:].all()  # the shifted-in columns 0-1 match nothing truly
    out = fm(grid)
    assert out.shape == (b, 2, DIM) and torch.isfinite(out).all()
    assert not torch.allclose(out[:, 0], out[:, 1])  # the two frames' summaries differ


def test_the_summary_reaches_the_pose_and_the_descriptors_get_gradients():
    torch.manual_seed(0)
    head = CameraHead(DIM, CameraHeadConfig(trunk_depth=1, num_heads=4, init_values=1.0, motion="match"))
    tokens, grid = torch.randn(2, 3, DIM), torch.randn(2, 3, 4, 5, DIM, requires_grad=True)
    with pytest.raises(ValueError, match="pass patch_grid"):
        head(tokens)
    pose = head(tokens, patch_grid=grid)[-1]
    assert pose.shape == (2, 3, 9)
    pose.square().sum().backward()
    assert head.motion.desc[1].weight.grad.abs().sum() > 0  # through the soft-argmax inside the window
    assert head.motion.match.log_scale.grad is not None and grid.grad.abs().sum() > 0
    # an official head has no matcher and ignores a patch grid
    plain = CameraHead(DIM, CameraHeadConfig(trunk_depth=1, num_heads=4))
    assert plain.motion is None
    with torch.no_grad():
        torch.testing.assert_close(plain(tokens)[-1], plain(tokens, patch_grid=grid)[-1])


def test_config_validates_and_a_saved_model_round_trips(tmp_path):
    with pytest.raises(ValueError, match="camera_head.motion"):
        CameraHeadConfig(motion="flow")
    assert VGGTConfig().camera_head.motion == "none"  # off in the official presets
    base = VGGTConfig.preset("vggt-tiny").with_heads(depth=False, point=False, track=False)
    cfg = dataclasses.replace(base, camera_head=dataclasses.replace(base.camera_head, motion="match"))
    assert VGGTConfig.from_dict(cfg.to_dict()) == cfg
    model = random_model(cfg, seed=1)  # built on the meta device: every matcher parameter must be initialised
    assert any(k.startswith("camera_head.motion.") for k in model.state_dict())
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert model.camera_head.motion.match.log_scale.exp().item() == pytest.approx(20.0)
    images = torch.rand(1, 3, 3, 28, 42)
    with torch.no_grad():
        want = model(images).pose_enc
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.config.camera_head.motion == "match"
    with torch.no_grad():
        torch.testing.assert_close(loaded(images).pose_enc, want)
