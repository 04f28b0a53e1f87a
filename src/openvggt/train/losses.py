"""Training objective of VGGT: camera, depth, point-map and track losses and their weighted sum.

Shapes: B scenes, S frames, H x W pixels, N tracks, K camera-head iterations.

``total = w_cam L_camera + w_depth L_depth + w_point L_point + λ L_track`` (paper: all weights 1,
λ = 0.05). Every term is switchable in :class:`LossConfig` (for the paper's Table 9 ablation).
Where the paper and the released training code differ, the paper's form is the default and the
released one an option; the ``"released"`` preset collects all of them:

=========================  ================================  ==========================================
item                       paper (default)                   released code (option)
=========================  ================================  ==========================================
camera residual            Huber (``huber_delta``)           L1 (``camera_loss_type="l1"``), weight 5
gradient term weighting    ``conf * |∇ residual|``           unweighted (``gradient_conf="none"``)
plain regression term      not added                         added (``include_plain_reg=True``)
outlier filtering          none                              98 % quantile (``valid_range=0.98``)
point-map gradient term    ``"grad"``, 4 scales              ``"normal"``, 3 scales
track distance             Euclidean ``‖ŷ - y‖``             mean of ``|dx|, |dy|`` (``track_distance="l1"``)
heads trained              camera, depth, point, track       camera, depth
=========================  ================================  ==========================================

Behaviour kept from the released code in both forms (documented quirks):

* ``fix``: NaN/Inf become 0 and values are clamped to ``±hard_max`` (100), on GT depth/points
  and on per-element losses;
* camera validity is decided per scene from frame 0 only: a scene counts iff its frame 0 has
  more than ``camera_min_valid_pixels`` valid depth pixels; invalid scenes are dropped;
* camera iterations are weighted ``stage_gamma^(K - k - 1)`` and the sum is divided by ``K``;
* a term with too little valid data is ``0 * pred`` (keeps the graph connected for DDP).

Our additions: GT pixels that are not finite are removed from the masks before ``fix`` (the
batch normaliser already zeroes them, this makes the loss safe on raw data as well), and the
track loss, which the release leaves unimplemented, follows its reference sketch (§9.2.4).

All arithmetic runs in float32 with autocast disabled, so the losses can be called inside a
bf16/fp16 autocast region; GT tensors never receive gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openvggt.geometry import extri_intri_to_pose_encoding

log = logging.getLogger(__name__)

__all__ = [
    "LossConfig",
    "LOSS_PRESETS",
    "MultitaskLoss",
    "camera_loss",
    "camera_valid_scenes",
    "filter_by_quantile",
    "fix",
    "gradient_loss",
    "normal_loss",
    "regression_loss",
    "total_loss",
    "track_loss",
]

_CAMERA_TYPES = ("huber", "l1")
_GRADIENTS = ("grad", "normal", "none")
_GRADIENT_CONF = ("weight", "none", "weight_log")
_TRACK_DISTANCES = ("l2", "l1")


@dataclass(frozen=True)
class LossConfig:
    """Loss switches, weights and hyper-parameters. Defaults are the paper's form.

    Regression terms (depth and point map) per valid pixel: ``conf_gamma * |err| * conf -
    conf_alpha * log(conf)``; the gradient term compares spatial differences of prediction and
    GT over ``grad_scales`` (``"grad"``) or surface normals over ``normal_scales`` (``"normal"``).
    ``gradient_conf``: ``"weight"`` multiplies the gradient residual by ``conf_gamma * conf``
    (paper), ``"none"`` leaves it unweighted (released default), ``"weight_log"`` also subtracts
    ``conf_alpha * log(conf)`` (released ``"...conf"`` variant).
    """

    camera: bool = True
    depth: bool = True
    point: bool = True
    track: bool = True
    camera_weight: float = 1.0
    depth_weight: float = 1.0
    point_weight: float = 1.0
    track_weight: float = 0.05
    # > 0: cross-entropy of the global attention to the GT correspondences (train/attn_match.py; needs tracks)
    attn_match_weight: float = 0.0
    # > 0: L1 of a fixed read-out of each global block's patch tokens to the GT motion to frame 0 (train/attn_match.py)
    token_motion_weight: float = 0.0
    # > 0: cross-entropy of the camera head's patch matcher to the GT correspondences (camera_head.motion="match")
    camera_match_weight: float = 0.0
    # camera
    camera_loss_type: str = "huber"
    huber_delta: float = 1.0
    stage_gamma: float = 0.6
    weight_trans: float = 1.0
    weight_rot: float = 1.0
    weight_fov: float = 0.5
    camera_min_valid_pixels: int = 100
    # "baseline": translation residuals divided by the scene's mean GT camera distance to frame 0 (ours, not the
    # paper's): small-baseline scenes (video: |t| ~ 0.01-0.1 after unit mean point distance) then weigh as much as
    # wide ones; "none": the paper's absolute residual.
    trans_norm: str = "none"
    # depth / point regression
    conf_gamma: float = 1.0
    conf_alpha: float = 0.2
    depth_gradient: str = "grad"
    point_gradient: str = "grad"
    gradient_conf: str = "weight"
    grad_scales: int = 4
    normal_scales: int = 3
    valid_range: float = 0.0
    include_plain_reg: bool = False
    min_valid_pixels: int = 100
    hard_max: float = 100.0
    # tracks
    track_distance: str = "l2"
    track_gamma: float = 0.8
    track_vis: bool = True
    track_conf: bool = False
    track_conf_px: float = 3.0

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("camera_loss_type", self.camera_loss_type, _CAMERA_TYPES),
            ("depth_gradient", self.depth_gradient, _GRADIENTS),
            ("point_gradient", self.point_gradient, _GRADIENTS),
            ("gradient_conf", self.gradient_conf, _GRADIENT_CONF),
            ("track_distance", self.track_distance, _TRACK_DISTANCES),
        ):
            if value not in allowed:
                raise ValueError(f"LossConfig.{name} must be one of {allowed}, got {value!r}")
        if self.trans_norm not in ("none", "baseline"):
            raise ValueError(f"LossConfig.trans_norm must be 'none' or 'baseline', got {self.trans_norm!r}")
        if not 0.0 <= self.valid_range < 1.0:
            raise ValueError(f"LossConfig.valid_range must be in [0, 1), got {self.valid_range}")
        if self.huber_delta <= 0 or self.grad_scales < 1 or self.normal_scales < 1:
            raise ValueError("LossConfig: huber_delta must be > 0 and the scale counts >= 1")

    def with_overrides(self, **kwargs) -> LossConfig:
        return replace(self, **kwargs)


LOSS_PRESETS: dict[str, LossConfig] = {
    "paper": LossConfig(),
    "released": LossConfig(
        camera_loss_type="l1",
        camera_weight=5.0,
        point=False,
        track=False,
        point_gradient="normal",
        gradient_conf="none",
        valid_range=0.98,
        include_plain_reg=True,
        track_distance="l1",
    ),
}


# ----------------------------------------------------------------------------------- helpers
def fix(x: Tensor, hard_max: float = 100.0) -> Tensor:
    """NaN/±Inf -> 0, then clamp to ``[-hard_max, hard_max]`` (the released code's guard)."""
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).clamp(-hard_max, hard_max)


def _zero(ref: Tensor) -> Tensor:
    """A float32 zero that depends on ``ref`` (so every parameter still gets a gradient)."""
    return fix(ref.float()).sum() * 0.0


def _mean_or_zero(x: Tensor, ref: Tensor) -> Tensor:
    return x.mean() if x.numel() else _zero(ref)


def filter_by_quantile(x: Tensor, q: float, min_elements: int = 1000, hard_max: float = 100.0) -> Tensor:
    """Drop the largest ``1 - q`` of a 1-D loss tensor (released outlier filter).

    ``x`` is clamped to ``<= hard_max``; the threshold is the "nearest" ``q``-quantile (the k-th
    smallest value, ``k = round(q (n - 1)) + 1``) capped at ``hard_max``, and elements strictly
    below it are kept. Tensors with ``<= min_elements`` entries, or filters that would keep
    ``<= min_elements``, return the clamped input. Above 1e8 elements the threshold is estimated
    on a random subset of 1e6 (the released code returns that subset; we filter all of ``x``).
    """
    if x.numel() <= min_elements:
        return x
    x = x.clamp(max=hard_max)
    sample = x.detach()
    if sample.numel() > 100_000_000:
        sample = sample[torch.randint(sample.numel(), (1_000_000,), device=sample.device)]
    k = round(q * (sample.numel() - 1)) + 1
    threshold = min(float(torch.kthvalue(sample, k).values), hard_max)
    kept = x[x < threshold]
    return kept if kept.numel() > min_elements else x


# ------------------------------------------------------------------------------------ camera
def camera_valid_scenes(point_masks: Tensor, min_pixels: int = 100) -> Tensor:
    """``[B]`` bool: scene ``b`` is used iff frame 0 has more than ``min_pixels`` valid pixels.

    Args:
        point_masks: ``[B, S, H, W]`` bool validity of GT depth.
    """
    return point_masks[:, 0].flatten(1).sum(-1) > min_pixels


def camera_loss(
    pose_enc_list: Sequence[Tensor],
    gt_pose_enc: Tensor,
    valid: Tensor | None = None,
    cfg: LossConfig = LossConfig(),
) -> dict[str, Tensor]:
    """Pose-encoding loss over all camera-head iterations.

    Args:
        pose_enc_list: ``K`` tensors ``[B, S, 9]`` (``[t (3), q xyzw (4), fov_h, fov_w]``), one per
            iteration, last = final prediction.
        gt_pose_enc: ``[B, S, 9]`` GT encoding of the normalised world-to-camera GT cameras.
        valid: optional ``[B]`` bool scene mask (see :func:`camera_valid_scenes`).

    Returns:
        ``{"loss_camera", "loss_T", "loss_R", "loss_FL"}`` with ``loss_X = Σ_k γ^(K-k-1) mean_k / K``
        and ``loss_camera = w_T loss_T + w_R loss_R + w_F loss_FL``.
    """
    if not pose_enc_list:
        raise ValueError("pose_enc_list is empty")
    gt = gt_pose_enc.detach().float()
    t_scale = None
    if cfg.trans_norm == "baseline" and gt.shape[-2] > 1:
        # [B, 1, 1] mean distance of frames 1.. to frame 0 (frame 0 is at the origin), floored against static scenes
        t_scale = gt[..., 1:, :3].norm(dim=-1).mean(-1).clamp(min=1e-2)[:, None, None]
    k_total = len(pose_enc_list)
    sums = {"loss_T": 0.0, "loss_R": 0.0, "loss_FL": 0.0}
    for k, pred in enumerate(pose_enc_list):
        if pred.shape != gt.shape:
            raise ValueError(f"pose_enc_list[{k}] has shape {tuple(pred.shape)}, GT has {tuple(gt.shape)}")
        pred = pred.float()
        weight = cfg.stage_gamma ** (k_total - k - 1)
        g_k = gt
        if t_scale is not None:
            pred = torch.cat([pred[..., :3] / t_scale, pred[..., 3:]], dim=-1)
            g_k = torch.cat([gt[..., :3] / t_scale, gt[..., 3:]], dim=-1)
        if valid is not None and not bool(valid.any()):
            parts = (_zero(pred),) * 3
        else:
            p, g = (pred, g_k) if valid is None else (pred[valid], g_k[valid])
            if cfg.camera_loss_type == "huber":
                res = F.huber_loss(p, g, reduction="none", delta=cfg.huber_delta)
            else:
                res = (p - g).abs()
            res = fix(res, cfg.hard_max)
            parts = (res[..., :3].mean(), res[..., 3:7].mean(), res[..., 7:9].mean())
        for key, part in zip(sums, parts):
            sums[key] = sums[key] + weight * part
    out = {key: value / k_total for key, value in sums.items()}
    out["loss_camera"] = (
        cfg.weight_trans * out["loss_T"] + cfg.weight_rot * out["loss_R"] + cfg.weight_fov * out["loss_FL"]
    )
    return out


# ------------------------------------------------------------------------ gradient and normals
def _conf_weight(g: Tensor, conf: Tensor | None, mode: str, gamma: float, alpha: float) -> Tensor:
    """Apply the ``gradient_conf`` mode to a per-element gradient residual ``g`` (same shape as conf)."""
    if conf is None or mode == "none":
        return g
    if mode == "weight":
        return gamma * g * conf
    return gamma * g * conf - alpha * torch.log(conf)


def _grad_one_scale(pred, gt, mask, conf, cfg: LossConfig) -> Tensor:
    """Gradient-matching loss at one scale; pred/gt ``[N, H, W, C]``, mask/conf ``[N, H, W]``."""
    m = mask.float()[..., None]  # [N, H, W, 1]
    diff = (pred - gt) * m
    total = pred.new_zeros(())
    for dim in (2, 1):  # x (columns), then y (rows)
        n = diff.shape[dim]
        a, b = diff.narrow(dim, 1, n - 1), diff.narrow(dim, 0, n - 1)
        pair = m.narrow(dim, 1, n - 1) * m.narrow(dim, 0, n - 1)  # both pixels valid
        g = ((a - b).abs() * pair).clamp(max=cfg.hard_max)
        c = None if conf is None else conf.narrow(dim, 1, n - 1)[..., None]
        total = total + (_conf_weight(g, c, cfg.gradient_conf, cfg.conf_gamma, cfg.conf_alpha) * pair).sum()
    denom = m.sum() * pred.shape[-1]  # valid pixels x channels
    return total / denom if float(denom) > 0 else total * 0.0


def _four_normals(points: Tensor, mask: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Unit normals of the 4 neighbour pairs.

    points ``[N, H, W, 3]``, mask ``[N, H, W]`` -> normals ``[4, N, H, W, 3]``, valid ``[4, N, H, W]``.
    """
    p = F.pad(points.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)  # [N, H+2, W+2, 3] zero-padded
    m = F.pad(mask.float(), (1, 1, 1, 1)) > 0.5
    h, w = points.shape[1:3]

    def at(t: Tensor, dy: int, dx: int) -> Tensor:
        return t[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    c, mc = at(p, 0, 0), at(m, 0, 0)
    offsets = {"up": (-1, 0), "left": (0, -1), "down": (1, 0), "right": (0, 1)}
    nb = {k: (at(p, dy, dx) - c, at(m, dy, dx)) for k, (dy, dx) in offsets.items()}
    order = (("up", "left"), ("left", "down"), ("down", "right"), ("right", "up"))
    normals = torch.stack([F.normalize(torch.cross(nb[a][0], nb[b][0], dim=-1), dim=-1, eps=eps) for a, b in order])
    valid = torch.stack([nb[a][1] & mc & nb[b][1] for a, b in order])
    return normals, valid


def _normal_one_scale(pred, gt, mask, conf, cfg: LossConfig, eps: float = 1e-8) -> Tensor:
    """Surface-normal loss ``mean(1 - cos)`` at one scale; pred/gt ``[N, H, W, 3]``."""
    if pred.shape[-1] != 3:
        raise ValueError(f'gradient "normal" needs 3-channel point maps, got {pred.shape[-1]} channels')
    n_pred, valid = _four_normals(pred, mask, eps)
    n_gt, _ = _four_normals(gt, mask, eps)
    if int(valid.sum()) < 10:
        return _zero(pred)
    cos = (n_pred * n_gt).sum(-1).clamp(-1 + eps, 1 - eps)  # [4, N, H, W]
    loss = 1.0 - cos
    c = None if conf is None else conf[None].expand_as(loss)
    loss = _conf_weight(loss, c, cfg.gradient_conf, cfg.conf_gamma, cfg.conf_alpha)
    return loss[valid].mean()


def _multi_scale(fn, pred, gt, mask, conf, n_scales: int, cfg: LossConfig) -> Tensor:
    """Mean of ``fn`` over scales ``j`` (every ``2^j``-th row and column); inputs ``[B, S, H, W, (C)]``."""
    hw = pred.shape[-3:-1]
    pred, gt = pred.reshape(-1, *hw, pred.shape[-1]), gt.reshape(-1, *hw, gt.shape[-1])
    mask = mask.reshape(-1, *hw)
    conf = None if conf is None else conf.reshape(-1, *hw)
    total = pred.new_zeros(())
    for j in range(n_scales):
        s = 2**j
        sub_conf = None if conf is None else conf[:, ::s, ::s]
        total = total + fn(pred[:, ::s, ::s], gt[:, ::s, ::s], mask[:, ::s, ::s], sub_conf, cfg)
    return total / n_scales


def gradient_loss(pred, gt, mask, conf=None, cfg: LossConfig = LossConfig(), n_scales: int | None = None) -> Tensor:
    """Multi-scale ``Σ|∇(pred - gt)| / Σ mask``; pred/gt ``[B, S, H, W, C]``, mask/conf ``[B, S, H, W]``."""
    return _multi_scale(_grad_one_scale, pred, gt, mask, conf, n_scales or cfg.grad_scales, cfg)


def normal_loss(pred, gt, mask, conf=None, cfg: LossConfig = LossConfig(), n_scales: int | None = None) -> Tensor:
    """Multi-scale surface-normal loss; pred/gt ``[B, S, H, W, 3]`` point maps, mask/conf ``[B, S, H, W]``."""
    return _multi_scale(_normal_one_scale, pred, gt, mask, conf, n_scales or cfg.normal_scales, cfg)


# ---------------------------------------------------------------------------- regression
def regression_loss(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor,
    conf: Tensor,
    cfg: LossConfig = LossConfig(),
    gradient: str = "grad",
) -> dict[str, Tensor]:
    """Confidence-weighted regression of a depth or point map.

    Args:
        pred: ``[B, S, H, W, C]`` prediction (``C = 1`` depth, ``3`` world points).
        gt: ``[B, S, H, W, C]`` normalised GT (``[B, S, H, W]`` is accepted for ``C = 1``).
        mask: ``[B, S, H, W]`` bool, valid GT pixels.
        conf: ``[B, S, H, W]`` predicted confidence (``> 0``; the heads output ``1 + exp``).
        gradient: ``"grad"``, ``"normal"`` or ``"none"``.

    Returns:
        ``{"conf": mean(γ |err| conf - α log conf), "reg": mean |err|, "grad": gradient term}``;
        all ``0 * pred`` when fewer than ``cfg.min_valid_pixels`` pixels are valid.
    """
    if gradient not in _GRADIENTS:
        raise ValueError(f"gradient must be one of {_GRADIENTS}, got {gradient!r}")
    pred, conf = pred.float(), conf.float()
    gt = gt.detach().float()
    if gt.dim() == pred.dim() - 1:
        gt = gt[..., None]
    if gt.shape != pred.shape or mask.shape != pred.shape[:-1] or conf.shape != mask.shape:
        raise ValueError(
            f"regression_loss shapes: pred {tuple(pred.shape)}, gt {tuple(gt.shape)}, "
            f"mask {tuple(mask.shape)}, conf {tuple(conf.shape)}"
        )
    mask = mask.bool() & torch.isfinite(gt).all(-1)
    gt = fix(gt, cfg.hard_max)
    if int(mask.sum()) < cfg.min_valid_pixels:
        zero = _zero(pred) + _zero(conf)
        return {"conf": zero, "reg": zero, "grad": zero}
    reg = fix(torch.linalg.vector_norm(gt[mask] - pred[mask], dim=-1), cfg.hard_max)  # [M]
    conf_m = conf[mask]
    lc = fix(cfg.conf_gamma * reg * conf_m - cfg.conf_alpha * torch.log(conf_m), cfg.hard_max)
    grad_conf = None if cfg.gradient_conf == "none" else conf
    if gradient == "grad":
        grad = gradient_loss(pred, gt, mask, grad_conf, cfg)
    elif gradient == "normal":
        grad = normal_loss(pred, gt, mask, grad_conf, cfg)
    else:
        grad = _zero(pred)
    if cfg.valid_range > 0:
        lc = filter_by_quantile(lc, cfg.valid_range, hard_max=cfg.hard_max)
        reg = filter_by_quantile(reg, cfg.valid_range, hard_max=cfg.hard_max)
    conf_term = _mean_or_zero(fix(lc, cfg.hard_max), pred)
    return {"conf": conf_term, "reg": _mean_or_zero(fix(reg, cfg.hard_max), pred), "grad": grad}


# --------------------------------------------------------------------------------- tracks
def _bce(logits: Tensor, target: Tensor, ref: Tensor) -> Tensor:
    if logits.numel() == 0:
        return _zero(ref)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def track_loss(
    track_list: Sequence[Tensor],
    gt_tracks: Tensor,
    gt_vis: Tensor,
    vis_logits: Tensor | None = None,
    conf_logits: Tensor | None = None,
    cfg: LossConfig = LossConfig(),
) -> dict[str, Tensor]:
    """Tracking loss over the tracker iterations (query frame 0).

    Args:
        track_list: ``n`` tensors ``[B, S, N, 2]`` of predicted ``(x, y)`` pixels, one per iteration.
        gt_tracks: ``[B, S, N_gt, 2]`` GT pixels, ``N_gt >= N`` (truncated to the first ``N``).
        gt_vis: ``[B, S, N_gt]`` bool GT visibility.
        vis_logits: ``[B, S, N]`` raw visibility logits (no sigmoid) or None.
        conf_logits: ``[B, S, N]`` raw confidence logits or None.

    Only tracks visible in frame 0 count. Position loss: ``Σ_i 0.8^(n-i-1) mean d_i / n`` over
    entries that are also visible (``0`` unless more than 2 such entries), ``d`` the Euclidean
    (or mean-abs, ``track_distance="l1"``) pixel distance. Visibility: BCE over all entries of
    the counted tracks. Confidence: BCE against "final prediction within ``track_conf_px``"
    (target from detached predictions) over visible entries.

    Returns:
        ``{"loss_track", "loss_track_seq", "loss_track_vis", "loss_track_conf"}``.
    """
    if not track_list:
        raise ValueError("track_list is empty")
    n_tracks = track_list[-1].shape[2]
    if gt_tracks.shape[2] < n_tracks:
        raise ValueError(f"GT has {gt_tracks.shape[2]} tracks but the prediction has {n_tracks}")
    gt = gt_tracks[:, :, :n_tracks].detach().float()
    vis = gt_vis[:, :, :n_tracks].bool()
    counted = vis[:, :1].expand_as(vis)  # [B, S, N] tracks visible in the query frame
    scored = counted & vis & torch.isfinite(gt).all(-1)
    gt = fix(gt, float("inf"))

    def distance(pred: Tensor) -> Tensor:
        err = pred.float() - gt
        return torch.linalg.vector_norm(err, dim=-1) if cfg.track_distance == "l2" else err.abs().mean(-1)

    n_iters = len(track_list)
    seq = _zero(track_list[-1])
    for i, pred in enumerate(track_list):
        if pred.shape != track_list[-1].shape:
            raise ValueError(f"track_list[{i}] has shape {tuple(pred.shape)}, expected {tuple(track_list[-1].shape)}")
        if int(scored.sum()) > 2:
            seq = seq + cfg.track_gamma ** (n_iters - i - 1) * distance(pred)[scored].mean()
    seq = seq / n_iters
    out = {"loss_track_seq": seq}
    ref = track_list[-1]
    use_vis = cfg.track_vis and vis_logits is not None
    out["loss_track_vis"] = _bce(vis_logits[counted], vis[counted], vis_logits) if use_vis else _zero(ref)
    if cfg.track_conf and conf_logits is not None:
        hit = torch.linalg.vector_norm(track_list[-1].detach().float() - gt, dim=-1) < cfg.track_conf_px
        out["loss_track_conf"] = _bce(conf_logits[scored], hit[scored], conf_logits)
    else:
        out["loss_track_conf"] = _zero(ref)
    out["loss_track"] = out["loss_track_seq"] + out["loss_track_vis"] + out["loss_track_conf"]
    return out


# ---------------------------------------------------------------------------------- total
def _need(d: Mapping, key: str, what: str, why: str) -> Tensor:
    if key not in d or d[key] is None:
        raise KeyError(f"{what} has no {key!r}, which LossConfig.{why} needs")
    return d[key]


def _gt_pose_encoding(batch: Mapping) -> Tensor:

    extr = _need(batch, "extrinsics", "batch", "camera")
    intr = _need(batch, "intrinsics", "batch", "camera")
    hw = _need(batch, "images", "batch", "camera").shape[-2:]
    return extri_intri_to_pose_encoding(extr.float(), intr.float(), (int(hw[0]), int(hw[1]))).float()


def _dense_terms(prefix: str, preds, batch, cfg: LossConfig, keys: tuple[str, str, str], gradient: str):
    pred = _need(preds, keys[0], "preds", prefix)
    conf = _need(preds, keys[1], "preds", prefix)
    gt = _need(batch, keys[2], "batch", prefix)
    mask = _need(batch, "point_masks", "batch", prefix)
    parts = regression_loss(pred, gt, mask, conf, cfg, gradient)
    terms = {
        f"loss_conf_{prefix}": parts["conf"],
        f"loss_reg_{prefix}": parts["reg"],
        f"loss_grad_{prefix}": parts["grad"],
    }
    total = parts["conf"] + parts["grad"] + (parts["reg"] if cfg.include_plain_reg else 0.0)
    terms[f"loss_{prefix}"] = total
    return terms


def _device_type(preds: Mapping) -> str:
    for value in preds.values():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            value = value[0]
        if isinstance(value, Tensor):
            return value.device.type
    raise ValueError("preds holds no tensor")


def total_loss(preds: Mapping, batch: Mapping, cfg: LossConfig = LossConfig()) -> tuple[Tensor, dict[str, Tensor]]:
    """The weighted multi-task objective.

    Args:
        preds: model outputs with the official names: ``pose_enc_list`` (K x ``[B, S, 9]``),
            ``depth`` ``[B, S, H, W, 1]``, ``depth_conf`` ``[B, S, H, W]``, ``world_points``
            ``[B, S, H, W, 3]``, ``world_points_conf`` ``[B, S, H, W]``, ``track_list``
            (n x ``[B, S, N, 2]``), ``vis`` and ``conf`` logits ``[B, S, N]``.
        batch: normalised GT (spec §9.1/§9.4 keys with leading B): ``images`` ``[B, S, 3, H, W]``,
            ``depths`` ``[B, S, H, W]``, ``extrinsics`` ``[B, S, 3, 4]`` world-to-camera,
            ``intrinsics`` ``[B, S, 3, 3]``, ``world_points`` ``[B, S, H, W, 3]``,
            ``point_masks`` ``[B, S, H, W]`` bool, ``tracks`` ``[B, S, N, 2]``, ``track_vis_mask``
            ``[B, S, N]``.
        cfg: which terms and how; only the enabled terms' keys are required.

    Returns:
        ``(objective, terms)``: a float32 scalar and a dict of every computed term (tensors,
        not detached), including ``"objective"``.
    """
    terms: dict[str, Tensor] = {}
    with torch.autocast(device_type=_device_type(preds), enabled=False):
        contributions = []
        if cfg.camera:
            valid = None
            if "point_masks" in batch and batch["point_masks"] is not None:
                valid = camera_valid_scenes(batch["point_masks"], cfg.camera_min_valid_pixels)
            pose_list = _need(preds, "pose_enc_list", "preds", "camera")
            terms.update(camera_loss(pose_list, _gt_pose_encoding(batch), valid, cfg))
            contributions.append(cfg.camera_weight * terms["loss_camera"])
        if cfg.depth:
            keys = ("depth", "depth_conf", "depths")
            terms.update(_dense_terms("depth", preds, batch, cfg, keys, cfg.depth_gradient))
            contributions.append(cfg.depth_weight * terms["loss_depth"])
        if cfg.point:
            keys = ("world_points", "world_points_conf", "world_points")
            terms.update(_dense_terms("point", preds, batch, cfg, keys, cfg.point_gradient))
            contributions.append(cfg.point_weight * terms["loss_point"])
        if cfg.track:
            parts = track_loss(
                _need(preds, "track_list", "preds", "track"),
                _need(batch, "tracks", "batch", "track"),
                _need(batch, "track_vis_mask", "batch", "track"),
                preds.get("vis"),
                preds.get("conf"),
                cfg,
            )
            terms.update(parts)
            contributions.append(cfg.track_weight * parts["loss_track"])
        if not contributions:
            raise ValueError("LossConfig enables no loss term")
        objective = torch.stack([c.float() for c in contributions]).sum()
    terms["objective"] = objective
    return objective, terms


class MultitaskLoss(nn.Module):
    """``nn.Module`` wrapper of :func:`total_loss` holding a :class:`LossConfig`."""

    def __init__(self, cfg: LossConfig | str = "paper") -> None:
        super().__init__()
        if isinstance(cfg, str):
            if cfg not in LOSS_PRESETS:
                raise ValueError(f"unknown loss preset {cfg!r}; known: {', '.join(LOSS_PRESETS)}")
            cfg = LOSS_PRESETS[cfg]
        self.cfg = cfg

    def forward(self, preds: Mapping, batch: Mapping) -> tuple[Tensor, dict[str, Tensor]]:
        return total_loss(preds, batch, self.cfg)
