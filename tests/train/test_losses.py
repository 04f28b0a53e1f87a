"""Training losses on hand-computable cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from openvggt.train.losses import (
    LOSS_PRESETS,
    LossConfig,
    MultitaskLoss,
    camera_loss,
    camera_valid_scenes,
    filter_by_quantile,
    fix,
    gradient_loss,
    normal_loss,
    regression_loss,
    total_loss,
    track_loss,
)

SMALL = LossConfig(min_valid_pixels=1)  # the default needs >= 100 valid pixels


def test_fix_zeroes_non_finite_and_clamps():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 250.0, -250.0, 3.0])
    assert fix(x).tolist() == [0.0, 0.0, 0.0, 100.0, -100.0, 3.0]


# ------------------------------------------------------------------------------------ camera
def _enc(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 9)


def test_camera_huber_and_l1_at_known_residuals():
    gt = torch.zeros(1, 1, 9)
    pred = _enc([0.5, 3.0, 0.0, 0, 0, 0, 0, 2.0, 0.0])
    huber = camera_loss([pred], gt, cfg=LossConfig(huber_delta=1.0))
    # Huber(0.5) = 0.125, Huber(3) = 2.5, Huber(2) = 1.5.
    assert huber["loss_T"].item() == pytest.approx((0.125 + 2.5) / 3)
    assert huber["loss_R"].item() == 0.0
    assert huber["loss_FL"].item() == pytest.approx(1.5 / 2)
    assert huber["loss_camera"].item() == pytest.approx((0.125 + 2.5) / 3 + 0.5 * 0.75)
    l1 = camera_loss([pred], gt, cfg=LossConfig(camera_loss_type="l1"))
    assert l1["loss_camera"].item() == pytest.approx(3.5 / 3 + 0.5 * 1.0)
    wide = camera_loss([pred], gt, cfg=LossConfig(huber_delta=4.0))
    assert wide["loss_T"].item() == pytest.approx((0.125 + 4.5) / 3)  # both residuals in the quadratic zone


def test_camera_iteration_weights():
    gt = torch.zeros(1, 2, 9)
    preds = [torch.full((1, 2, 9), float(r)) for r in (1.0, 2.0, 3.0, 4.0)]
    out = camera_loss(preds, gt, cfg=LossConfig(camera_loss_type="l1"))
    expected = (0.6**3 * 1 + 0.6**2 * 2 + 0.6 * 3 + 1.0 * 4) / 4
    assert out["loss_T"].item() == pytest.approx(expected)
    assert out["loss_camera"].item() == pytest.approx(2.5 * expected)  # 1 + 1 + 0.5


def test_camera_validity_comes_from_frame_0_only():
    masks = torch.zeros(2, 2, 20, 20, dtype=torch.bool)
    masks[0, 0] = True  # scene 0: 400 valid pixels in frame 0, none in frame 1 -> used
    masks[1, 0, :5] = True  # scene 1: exactly 100 in frame 0 (not > 100) -> dropped
    masks[1, 1] = True
    valid = camera_valid_scenes(masks)
    assert valid.tolist() == [True, False]
    gt = torch.zeros(2, 2, 9)
    pred = torch.zeros(2, 2, 9)
    pred[1] = 50.0  # only in the dropped scene
    pred[0, 1, 0] = 0.9
    out = camera_loss([pred], gt, valid, LossConfig(camera_loss_type="l1"))
    assert out["loss_T"].item() == pytest.approx(0.9 / 6)


def test_camera_without_valid_scene_is_zero_and_keeps_the_graph():
    pred = torch.randn(1, 2, 9, requires_grad=True)
    out = camera_loss([pred], torch.zeros(1, 2, 9), torch.tensor([False]))
    out["loss_camera"].backward()
    assert out["loss_camera"].item() == 0.0 and pred.grad is not None and torch.all(pred.grad == 0)


def test_camera_gradient_reaches_predictions_only():
    pred = torch.randn(1, 3, 9, requires_grad=True)
    gt = torch.randn(1, 3, 9, requires_grad=True)
    camera_loss([pred * 1.0, pred], gt)["loss_camera"].backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0 and gt.grad is None


# ----------------------------------------------------------------------------- regression
def _depth(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 2, 2, 1)


def test_regression_on_a_2x2_depth_map_with_known_confidence():
    pred = _depth([[1.0, 2.0], [3.0, 4.0]])
    gt = torch.ones(1, 1, 2, 2)
    conf = torch.tensor([[1.0, 2.0], [1.0, math.e]]).reshape(1, 1, 2, 2)
    mask = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    out = regression_loss(pred, gt, mask, conf, SMALL, gradient="none")
    per_pixel = [0.0, 1 * 2 - 0.2 * math.log(2), 2 * 1 - 0.0, 3 * math.e - 0.2]
    assert out["conf"].item() == pytest.approx(sum(per_pixel) / 4)
    assert out["reg"].item() == pytest.approx(1.5)
    assert out["grad"].item() == 0.0
    mask[0, 0, 1, 1] = False
    masked = regression_loss(pred, gt, mask, conf, SMALL, gradient="none")
    assert masked["conf"].item() == pytest.approx(sum(per_pixel[:3]) / 3)
    assert masked["reg"].item() == pytest.approx(1.0)


def test_regression_is_only_the_log_term_when_prediction_is_exact():
    gt = torch.rand(1, 2, 8, 8, 3) + 1
    mask = torch.ones(1, 2, 8, 8, dtype=torch.bool)
    ones = regression_loss(gt.clone(), gt, mask, torch.ones(1, 2, 8, 8), SMALL, "grad")
    assert ones["conf"].item() == 0.0 and ones["reg"].item() == 0.0 and ones["grad"].item() == 0.0
    threes = regression_loss(gt.clone(), gt, mask, torch.full((1, 2, 8, 8), 3.0), SMALL, "grad")
    assert threes["conf"].item() == pytest.approx(-0.2 * math.log(3.0))


def _ramp(h: int, w: int, slope_x: float, slope_y: float = 0.0, channels: int = 1):
    """GT plus a prediction whose residual is ``slope_x * col + slope_y * row`` in channel 0 only."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    gt = torch.rand(1, 1, h, w, channels)
    pred = gt.clone()
    pred[..., 0] += slope_x * x + slope_y * y
    return pred, gt


def test_gradient_term_on_a_linear_ramp():
    a, b = 0.25, 0.1
    pred, gt = _ramp(4, 8, a, b)
    mask = torch.ones(1, 1, 4, 8, dtype=torch.bool)
    # Scale j samples every 2^j pixel (grids 4x8, 2x4, 1x2, 1x1): x-differences a 2^j on H_j (W_j - 1)
    # pairs, y-differences b 2^j on (H_j - 1) W_j pairs, normalised by H_j W_j valid pixels.
    grids = [(4, 8), (2, 4), (1, 2), (1, 1)]
    per_scale = [2**j * (a * h * (w - 1) + b * (h - 1) * w) / (h * w) for j, (h, w) in enumerate(grids)]
    got = gradient_loss(pred, gt, mask, cfg=LossConfig(gradient_conf="none"))
    assert got.item() == pytest.approx(sum(per_scale) / 4, rel=1e-5)
    conf = torch.full((1, 1, 4, 8), 2.0)
    weighted = gradient_loss(pred, gt, mask, conf, cfg=LossConfig(gradient_conf="weight"))
    assert weighted.item() == pytest.approx(2 * sum(per_scale) / 4, rel=1e-5)
    # With 3 channels (residual in one of them) the normaliser counts pixels x channels.
    pred3, gt3 = _ramp(4, 8, a, b, channels=3)
    got3 = gradient_loss(pred3, gt3, mask, cfg=LossConfig(gradient_conf="none"))
    assert got3.item() == pytest.approx(sum(per_scale) / 4 / 3, rel=1e-5)
    # A constant offset has no gradient.
    assert gradient_loss(gt + 5.0, gt, mask, cfg=LossConfig()).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_term_respects_the_mask():
    pred, gt = _ramp(1, 4, 1.0)
    mask = torch.tensor([[[[True, True, False, True]]]])
    # Only the pair (0, 1) has both pixels valid: one difference of 1 over 3 valid pixels.
    got = gradient_loss(pred, gt, mask, cfg=LossConfig(gradient_conf="none"), n_scales=1)
    assert got.item() == pytest.approx(1 / 3, rel=1e-6)


def _plane(n: int, tilt_deg: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
    z = x * math.tan(math.radians(tilt_deg))
    return torch.stack([x, y, z], -1)[None, None]  # [1, 1, n, n, 3]


def test_normal_term_on_a_tilted_plane():
    gt, pred = _plane(16, 0.0), _plane(16, 30.0)
    mask = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    cfg = LossConfig(gradient_conf="none")
    assert normal_loss(pred, gt, mask, cfg=cfg).item() == pytest.approx(1 - math.cos(math.radians(30)), rel=1e-5)
    # Normals do not see scale or offset.
    assert normal_loss(2.0 * gt + 1.0, gt, mask, cfg=cfg).item() == pytest.approx(0.0, abs=1e-6)
    few = torch.zeros_like(mask)
    few[..., :2, :2] = True  # fewer than 10 valid normals at every scale
    assert normal_loss(pred, gt, few, cfg=cfg).item() == 0.0


def test_filter_by_quantile():
    small = torch.arange(500, dtype=torch.float32)
    assert torch.equal(filter_by_quantile(small, 0.98), small)
    x = torch.arange(2000, dtype=torch.float32) / 100  # k = round(0.98 * 1999) + 1 = 1960 -> 19.59
    kept = filter_by_quantile(x, 0.98)
    assert kept.numel() == 1959 and kept.max().item() == pytest.approx(19.58)
    big = torch.arange(2000, dtype=torch.float32)  # clamped to 100 first; keeping < 100 leaves only 100
    out = filter_by_quantile(big, 0.98)
    assert out.numel() == 2000 and out.max().item() == 100.0


def test_quantile_filtering_and_plain_reg_options():
    gt = torch.ones(1, 1, 40, 40)
    residual = torch.arange(1600, dtype=torch.float32) / 1600
    residual[1590:] = 89.0  # the 10 largest become outliers
    pred = (1 + residual).reshape(1, 1, 40, 40, 1)
    mask = torch.ones(1, 1, 40, 40, dtype=torch.bool)
    conf = torch.ones(1, 1, 40, 40)
    plain = regression_loss(pred, gt, mask, conf, LossConfig(), "none")
    filtered = regression_loss(pred, gt, mask, conf, LossConfig(valid_range=0.98), "none")
    assert plain["reg"].item() == pytest.approx((1589 * 1590 / 2 / 1600 + 10 * 89) / 1600, rel=1e-5)
    # Threshold = 1568-th smallest = 1567/1600; strictly smaller values i/1600, i = 0..1566, are kept.
    assert filtered["reg"].item() == pytest.approx(1566 / 2 / 1600, rel=1e-5)
    assert filtered["conf"].item() == pytest.approx(1566 / 2 / 1600, rel=1e-5)  # conf = 1: same values
    batch = _tiny_batch()
    preds = _perfect_preds(batch)
    preds["depth"] = preds["depth"] + 0.5
    _, with_reg = total_loss(preds, batch, LossConfig(point=False, track=False, include_plain_reg=True))
    _, without = total_loss(preds, batch, LossConfig(point=False, track=False))
    assert with_reg["loss_depth"].item() == pytest.approx(without["loss_depth"].item() + 0.5, rel=1e-5)


def test_non_finite_ground_truth_does_not_propagate():
    pred = torch.rand(1, 1, 2, 2, 1, requires_grad=True)
    gt = torch.tensor([[[[1.0, float("nan")], [float("inf"), 2.0]]]])
    mask = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    conf = torch.full((1, 1, 2, 2), 2.0)
    out = regression_loss(pred, gt, mask, conf, SMALL, "grad")
    clean_mask = torch.tensor([[[[True, False], [False, True]]]])
    ref = regression_loss(pred, gt.nan_to_num(0, 0, 0), clean_mask, conf, SMALL, "grad")
    for key in ("conf", "reg", "grad"):
        assert torch.isfinite(out[key]) and out[key].item() == pytest.approx(ref[key].item())
    sum(out.values()).backward()
    assert torch.isfinite(pred.grad).all()


def test_regression_gradients_reach_prediction_and_confidence_only():
    pred = torch.rand(1, 1, 4, 4, 1, requires_grad=True)
    conf = (torch.rand(1, 1, 4, 4) + 1).requires_grad_()
    gt = torch.rand(1, 1, 4, 4, requires_grad=True)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    out = regression_loss(pred, gt, mask, conf, SMALL, "grad")
    (out["conf"] + out["grad"]).backward()
    assert pred.grad.abs().sum() > 0 and conf.grad.abs().sum() > 0 and gt.grad is None


def test_too_few_valid_pixels_gives_connected_zero():
    pred = torch.rand(1, 1, 4, 4, 1, requires_grad=True)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    out = regression_loss(pred, torch.rand(1, 1, 4, 4), mask, torch.ones(1, 1, 4, 4), LossConfig(), "grad")
    assert all(v.item() == 0.0 for v in out.values())
    out["conf"].backward()
    assert pred.grad is not None


# --------------------------------------------------------------------------------- tracks
def _tracks():
    """B=1, S=3, N=2. Track 0 is visible everywhere, track 1 is not visible in frame 0."""
    gt = torch.zeros(1, 3, 2, 2)
    vis = torch.tensor([[[True, False], [True, True], [True, True]]])
    it0 = torch.zeros(1, 3, 2, 2)
    it0[0, 1, 0] = torch.tensor([3.0, 4.0])  # 5 px
    it0[0, 2, 0] = torch.tensor([3.0, 4.0])
    it1 = torch.zeros(1, 3, 2, 2)
    it1[0, 2, 0] = torch.tensor([0.0, 1.0])  # 1 px
    it0[0, :, 1] = it1[0, :, 1] = 500.0  # track 1 is ignored whatever it predicts
    return [it0, it1], gt, vis


def test_track_sequence_loss_hand_values():
    preds, gt, vis = _tracks()
    l2 = track_loss(preds, gt, vis, cfg=LossConfig())
    assert l2["loss_track_seq"].item() == pytest.approx((0.8 * 10 / 3 + 1.0 * 1 / 3) / 2)
    l1 = track_loss(preds, gt, vis, cfg=LossConfig(track_distance="l1"))
    assert l1["loss_track_seq"].item() == pytest.approx((0.8 * 7 / 3 + 1.0 * 0.5 / 3) / 2)


def test_track_visibility_and_confidence_bce():
    preds, gt, vis = _tracks()
    vis_logits = torch.zeros(1, 3, 2)
    vis_logits[0, :, 1] = 30.0  # track 1 is not counted
    conf_logits = torch.tensor([[[2.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]])
    out = track_loss(preds, gt, vis, vis_logits, conf_logits, LossConfig(track_conf=True))
    assert out["loss_track_vis"].item() == pytest.approx(math.log(2))
    # The final iteration is within 3 px everywhere on track 0, so every target is 1.
    expected_conf = (F.softplus(torch.tensor(-2.0)) + math.log(2) + F.softplus(torch.tensor(1.0))).item() / 3
    assert out["loss_track_conf"].item() == pytest.approx(expected_conf)
    assert out["loss_track"].item() == pytest.approx(
        (out["loss_track_seq"] + out["loss_track_vis"] + out["loss_track_conf"]).item()
    )


def test_track_loss_needs_more_than_two_visible_entries():
    preds, gt, vis = _tracks()
    vis = vis.clone()
    vis[0, 2, 0] = False  # track 0 now visible in 2 frames only
    assert track_loss(preds, gt, vis)["loss_track_seq"].item() == 0.0


# ----------------------------------------------------------------------------------- total
def _tiny_batch(b: int = 1, s: int = 2, h: int = 14, w: int = 14, n: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    extr = torch.zeros(b, s, 3, 4)
    extr[..., :3, :3] = torch.eye(3)
    extr[..., :3, 3] = torch.randn(b, s, 3, generator=g)
    intr = torch.tensor([[20.0, 0, 7], [0, 20.0, 7], [0, 0, 1]]).expand(b, s, 3, 3).clone()
    return {
        "images": torch.rand(b, s, 3, h, w, generator=g),
        "depths": torch.rand(b, s, h, w, generator=g) + 1,
        "extrinsics": extr,
        "intrinsics": intr,
        "world_points": torch.randn(b, s, h, w, 3, generator=g),
        "point_masks": torch.ones(b, s, h, w, dtype=torch.bool),
        "tracks": torch.rand(b, s, n, 2, generator=g) * h,
        "track_vis_mask": torch.ones(b, s, n, dtype=torch.bool),
    }


def _perfect_preds(batch: dict) -> dict:
    from openvggt.geometry import extri_intri_to_pose_encoding

    enc = extri_intri_to_pose_encoding(batch["extrinsics"], batch["intrinsics"], batch["images"].shape[-2:])
    b, s, h, w = batch["depths"].shape
    n = batch["tracks"].shape[2]
    return {
        "pose_enc_list": [enc.clone() for _ in range(4)],
        "depth": batch["depths"][..., None].clone(),
        "depth_conf": torch.ones(b, s, h, w),
        "world_points": batch["world_points"].clone(),
        "world_points_conf": torch.ones(b, s, h, w),
        "track_list": [batch["tracks"].clone() for _ in range(3)],
        "vis": torch.full((b, s, n), 20.0),
        "conf": torch.full((b, s, n), 20.0),
    }


def test_total_loss_is_zero_for_perfect_predictions_and_sums_weighted_terms():
    batch = _tiny_batch()
    preds = _perfect_preds(batch)
    objective, terms = total_loss(preds, batch, LossConfig(track_conf=True))
    assert objective.dtype == torch.float32
    assert objective.item() == pytest.approx(0.0, abs=1e-6)  # conf = 1 and vis logits 20: ~0
    preds["pose_enc_list"][-1] = preds["pose_enc_list"][-1] + 0.1
    preds["depth"] = preds["depth"] * 1.1
    preds["track_list"][-1] = preds["track_list"][-1] + 1.0
    cfg = LossConfig(camera_weight=2.0, depth_weight=3.0)
    objective, terms = total_loss(preds, batch, cfg)
    expected = 2.0 * terms["loss_camera"] + 3.0 * terms["loss_depth"] + terms["loss_point"] + 0.05 * terms["loss_track"]
    assert objective.item() == pytest.approx(expected.item())
    assert terms["loss_camera"].item() > 0 and terms["loss_track"].item() > 0 and terms["objective"] is objective


def test_terms_can_be_switched_off_and_missing_keys_are_named():
    batch = _tiny_batch()
    preds = _perfect_preds(batch)
    _, terms = total_loss(preds, batch, LossConfig(camera=False, point=False, track=False))
    assert "loss_camera" not in terms and "loss_track" not in terms and "loss_depth" in terms
    del preds["track_list"]
    with pytest.raises(KeyError, match="track_list"):
        total_loss(preds, batch, LossConfig())
    with pytest.raises(ValueError, match="no loss term"):
        total_loss(preds, batch, LossConfig(camera=False, depth=False, point=False, track=False))


def test_bf16_autocast_computes_in_fp32():
    batch = _tiny_batch()
    preds = _perfect_preds(batch)
    preds["depth"] = preds["depth"] * 1.2
    preds["world_points"] = preds["world_points"] + 0.3
    bf16 = {k: ([t.bfloat16() for t in v] if isinstance(v, list) else v.bfloat16()) for k, v in preds.items()}
    back = {k: ([t.float() for t in v] if isinstance(v, list) else v.float()) for k, v in bf16.items()}
    ref, _ = total_loss(back, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, terms = total_loss(bf16, batch)
    assert got.dtype == torch.float32 and all(t.dtype == torch.float32 for t in terms.values())
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="camera_loss_type"):
        LossConfig(camera_loss_type="l2")
    with pytest.raises(ValueError, match="valid_range"):
        LossConfig(valid_range=1.5)
    released = LOSS_PRESETS["released"]
    assert released.camera_loss_type == "l1" and released.include_plain_reg and not released.point
    assert MultitaskLoss("released").cfg is released
    with pytest.raises(ValueError, match="preset"):
        MultitaskLoss("nope")
    batch = _tiny_batch()
    objective, terms = MultitaskLoss("released")(_perfect_preds(batch), batch)
    assert set(terms) >= {"loss_camera", "loss_depth", "objective"} and "loss_point" not in terms


def test_losses_reach_every_parameter_of_a_tiny_model():
    """The official output names line up with the model: every head parameter receives a finite gradient."""
    from openvggt.models.config import VGGTConfig
    from openvggt.models.vggt import VGGT

    torch.manual_seed(0)
    model = VGGT(VGGTConfig.preset("vggt-tiny")).train()
    batch = _tiny_batch(b=1, s=2, h=140, w=140, n=4)  # the track head needs >= 128 px
    out = model(batch["images"], query_points=batch["tracks"][:, 0], track_logits=True)
    cfg = LossConfig(min_valid_pixels=1, camera_min_valid_pixels=1, track_conf=True)
    objective, terms = total_loss(out, batch, cfg)
    objective.backward()
    assert torch.isfinite(objective) and all(torch.isfinite(t) for t in terms.values())
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_baseline_normalised_translation_loss_weighs_small_and_wide_baselines_alike():
    from openvggt.train.losses import LossConfig, camera_loss

    torch.manual_seed(0)
    gt = torch.randn(2, 4, 9)
    gt[:, 0, :3] = 0.0
    gt[1] = gt[0]
    gt[1, :, :3] *= 0.02  # the same cameras with a 50x smaller baseline (a video-like scene)
    pred = gt.clone()
    pred[..., :3] += 0.1 * gt[..., :3]  # the same 10 % relative translation error in both scenes
    cfg = LossConfig(camera_loss_type="l1", trans_norm="baseline")
    per_scene = [float(camera_loss([pred[b : b + 1]], gt[b : b + 1], cfg=cfg)["loss_T"]) for b in range(2)]
    assert per_scene[0] == pytest.approx(per_scene[1], rel=1e-4)
    plain = [
        float(camera_loss([pred[b : b + 1]], gt[b : b + 1], cfg=LossConfig(camera_loss_type="l1"))["loss_T"])
        for b in range(2)
    ]
    assert plain[0] > 20 * plain[1]
    with pytest.raises(ValueError, match="trans_norm"):
        LossConfig(trans_norm="median")
