"""The attention-match and token-motion losses: queries and motions from track targets, the attention logits and the
output tokens the blocks themselves compute, gradients, and the exact term a training step adds."""

from __future__ import annotations

import json

import pytest
import torch

import openvggt.layers.attention as attention_mod
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.train.attn_match import AttentionMatch, TokenMotion, match_motion, match_queries


def test_queries_map_pixels_to_patch_tokens():
    # 2 frames of 28 x 42 px at patch 14: 2 x 3 patches, 1 special token -> 7 tokens a frame
    tracks = torch.tensor([[[[15.0, 3.0], [40.0, 27.0]], [[1.0, 20.0], [30.0, 0.0]]]])  # [B=1, S=2, N=2, 2]
    vis = torch.tensor([[[True, True], [True, False]]])
    scene, token, target = match_queries(tracks, vis, None, (28, 42), 14, 1)
    # only track 0 is visible in both frames; in frame 1 it is at (1, 20): row 1, col 0 -> cell 3
    assert scene.tolist() == [0] and token.tolist() == [7 + 1 + 3]
    assert target.tolist() == [1]  # frame 0 at (15, 3): row 0, col 1
    # negatives (positive=False) are left out
    _, token, _ = match_queries(tracks, vis, torch.tensor([[False, True]]), (28, 42), 14, 1)
    assert token.numel() == 0
    # the query's motion to frame 0: (15, 3) - (1, 20) over the longer side, 42 px
    torch.testing.assert_close(match_motion(tracks, vis, None, (28, 42)), torch.tensor([[14.0, -17.0]]) / 42)


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return random_model(VGGTConfig.preset("vggt-tiny").with_heads(camera=False, point=False, track=False))


def test_loss_is_the_blocks_own_attention_and_has_gradients(tiny, monkeypatch):
    agg = tiny.aggregator
    b, s, hw = 2, 3, (28, 42)
    images = torch.rand(b, s, 3, *hw)
    gh, gw = 2, 3
    start = agg.patch_start_idx
    per_frame = start + gh * gw
    g = torch.Generator().manual_seed(1)
    tracks = torch.rand(b, s, 5, 2, generator=g) * torch.tensor([hw[1] - 1.0, hw[0] - 1.0])
    vis = torch.rand(b, s, 5, generator=g) > 0.3
    scene, token, target = match_queries(tracks, vis, None, hw, 14, start)
    assert len(token) > 0

    seen = []  # (q, k) of every global attention call, as the model computes them (SDPA off)
    original = attention_mod.attention_math

    def record(q, k, v, attn_mask=None):  # noqa: ANN001, ANN202
        if q.shape[2] == s * per_frame:
            seen.append((q.detach(), k.detach()))
        return original(q, k, v, attn_mask)

    monkeypatch.setattr(attention_mod, "attention_math", record)
    monkeypatch.setattr(attention_mod.Attention, "use_sdpa", False)
    with AttentionMatch(agg, scene, token, target, per_frame, start) as match:
        agg(images, layers=[-1])
    assert len(match.losses) == len(agg.global_blocks) == len(seen)
    for loss, (q, k) in zip(match.losses, seen, strict=True):
        rows = []
        for m in range(len(token)):
            qm = q[scene[m], :, token[m]] * q.shape[-1] ** -0.5  # [h, d]
            km = k[scene[m], :, start:per_frame]  # [h, hw, d]: frame 0's patch keys of the same scene
            rows.append(torch.einsum("hd,hkd->hk", qm, km))
        logits = torch.stack(rows)  # [M, h, hw]
        want = -logits.softmax(-1).mean(1).gather(1, target[:, None]).log().mean()
        torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
    match.loss().backward()
    qkv_grad = agg.global_blocks[0].attn.qkv.weight.grad
    assert qkv_grad is not None and qkv_grad.abs().sum() > 0


def test_token_motion_reads_every_global_blocks_output(tiny):
    agg = tiny.aggregator
    b, s, hw = 2, 3, (28, 42)
    images = torch.rand(b, s, 3, *hw)
    start = agg.patch_start_idx
    g = torch.Generator().manual_seed(2)
    tracks = torch.rand(b, s, 5, 2, generator=g) * torch.tensor([hw[1] - 1.0, hw[0] - 1.0])
    vis = torch.rand(b, s, 5, generator=g) > 0.3
    scene, token, _ = match_queries(tracks, vis, None, hw, 14, start)
    motion = match_motion(tracks, vis, None, hw)
    assert len(token) == len(motion) > 0
    outputs = []  # every global block's output tokens [B, S*P, C]
    handles = [blk.register_forward_hook(lambda m, a, o: outputs.append(o.detach())) for blk in agg.global_blocks]
    with TokenMotion(agg, scene, token, motion) as term:
        agg(images, layers=[-1])
    for h in handles:
        h.remove()
    readout = term.readout
    torch.testing.assert_close(readout.T @ readout, torch.eye(2), atol=1e-6, rtol=0)  # fixed orthonormal pair
    assert len(term.losses) == len(outputs) == len(agg.global_blocks)
    for loss, out in zip(term.losses, outputs, strict=True):
        torch.testing.assert_close(loss, (out[scene, token] @ readout - motion).abs().mean())
    term.loss().backward()
    assert agg.frame_blocks[0].attn.qkv.weight.grad.abs().sum() > 0  # reaches the whole trunk


def test_a_training_step_logs_and_optimises_the_term(tmp_path):
    from openvggt.cli import main
    from openvggt.train.config import DEBUG_TINY
    from openvggt.train.data import step_batches
    from openvggt.train.losses import LossConfig
    from openvggt.train.trainer import Trainer

    assert LossConfig().attn_match_weight == LossConfig().token_motion_weight == 0.0  # off: the paper's objective
    root = tmp_path / "synth"
    assert main(["synth", str(root), "--scenes", "2", "--frames", "4", "--seed", "0", "--size", "64"]) == 0
    over = ["data.source=folder", f"data.root={root}", f"out_dir={tmp_path / 'run'}", "data.image_size=56"]
    over += ["data.track_num=8", "data.val_scenes=0"]
    logs = {}
    runs = {"none": {}, "match": {"attn_match_weight": 1.0}, "motion": {"token_motion_weight": 2.0}}
    for name, weights in runs.items():
        loss = json.dumps({"track": False, **weights})
        trainer = Trainer(DEBUG_TINY.override([*over, f"loss={loss}"]), progress=False)
        logs[name] = trainer.train_step(step_batches(trainer.cfg, 0, 1, 0, 14))
    assert "loss_attn_match" not in logs["none"] and "loss_token_motion" not in logs["none"]
    # same seed, same batch, same initial weights: the objective differs by exactly the weighted new term
    for name, key, weight in (("match", "loss_attn_match", 1.0), ("motion", "loss_token_motion", 2.0)):
        term = logs[name][key]
        assert term > 0
        assert logs[name]["objective"] - logs["none"]["objective"] == pytest.approx(weight * term, rel=1e-4)


def test_camera_match_is_the_matchers_cross_entropy_at_the_gt_patches():
    import dataclasses

    from openvggt.train.attn_match import CameraMatch

    torch.manual_seed(0)
    base = VGGTConfig.preset("vggt-tiny").with_heads(depth=False, point=False, track=False)
    cfg = dataclasses.replace(base, camera_head=dataclasses.replace(base.camera_head, motion="match"))
    model = random_model(cfg).train()
    b, s, hw, patch, start = 2, 3, (28, 42), 14, model.aggregator.patch_start_idx
    tracks = torch.rand(b, s, 5, 2) * torch.tensor([41.0, 27.0])
    vis = torch.rand(b, s, 5) > 0.3
    scene, token, target = match_queries(tracks, vis, None, hw, patch, start)
    per_frame = start + 2 * 3
    captured = {}
    model.camera_head.motion.match.register_forward_hook(lambda m, a, out: captured.setdefault("logits", out))
    with CameraMatch(model.camera_head, scene, token, target, per_frame, start) as term:
        model(torch.rand(b, s, 3, *hw), heads=("camera",))
    frame, cell = token // per_frame, token % per_frame - start
    assert (frame > 0).all() and (cell >= 0).all() and (cell < 6).all()
    logits = captured["logits"]  # [B, S, 6, 6]
    want = torch.stack([-logits[bb, f, c].log_softmax(-1)[t] for bb, f, c, t in zip(scene, frame, cell, target)])
    torch.testing.assert_close(term.loss(), want.mean())
    term.loss().backward()
    assert model.camera_head.motion.desc[1].weight.grad.abs().sum() > 0
    assert model.aggregator.global_blocks[-1].mlp.fc2.weight.grad.abs().sum() > 0  # and the trunk
    with pytest.raises(ValueError, match="motion='match'"):
        CameraMatch(random_model(base).camera_head, scene, token, target, per_frame, start)


def test_camera_match_training_step_and_init_from_a_plain_camera_head(tmp_path):
    from openvggt.cli import main
    from openvggt.io.checkpoint import save_model
    from openvggt.train.config import DEBUG_TINY
    from openvggt.train.data import step_batches
    from openvggt.train.trainer import Trainer

    root = tmp_path / "synth"
    assert main(["synth", str(root), "--scenes", "2", "--frames", "4", "--seed", "0", "--size", "64"]) == 0
    over = ["data.source=folder", f"data.root={root}", f"out_dir={tmp_path / 'run'}", "data.image_size=56"]
    over += ["data.track_num=8", "data.val_scenes=0", "model.camera_head.motion=match"]
    with pytest.raises(ValueError, match="model.camera_head.motion=match"):
        Trainer(DEBUG_TINY.override([*over[:-1], 'loss={"track": false, "camera_match_weight": 1.0}']), progress=False)
    logs = {}
    for name, weight in (("none", 0.0), ("match", 1.5)):
        loss = json.dumps({"track": False, "camera_match_weight": weight})
        trainer = Trainer(DEBUG_TINY.override([*over, f"loss={loss}"]), progress=False)
        logs[name] = trainer.train_step(step_batches(trainer.cfg, 0, 1, 0, 14))
    term = logs["match"]["loss_camera_match"]
    assert term > 0 and "loss_camera_match" not in logs["none"]
    assert logs["match"]["objective"] - logs["none"]["objective"] == pytest.approx(1.5 * term, rel=1e-4)
    # a file whose camera head has no matcher initialises everything else; the matcher starts fresh
    plain = Trainer(DEBUG_TINY.override([*over[:-1], 'loss={"track": false}']), progress=False).model
    path = save_model(plain, tmp_path / "plain.safetensors")
    model = Trainer(DEBUG_TINY.override([*over, f"init={path}", 'loss={"track": false}']), progress=False).model
    got, want = model.state_dict(), plain.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert any(k.startswith("camera_head.motion.") for k in got)
