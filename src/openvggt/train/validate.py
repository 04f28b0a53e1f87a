"""Validation during training: camera AUC and depth AbsRel on fixed held-out synthetic samples.

Conventions (checked end to end by ``tests/train/test_validate.py``): the camera head's pose
encoding is decoded with the sample's own ``(H, W)`` into world-to-camera extrinsics in frame 0's
camera frame, the frame the GT ``extrinsics`` of a sample are in; relative-pose AUC is invariant to
the world frame and to the scale of the translations, so the GT normalisation (frame 0 = identity,
unit mean point distance) needs no counterpart on the predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.metrics import camera_metrics, depth_metrics
from openvggt.train.config import TrainConfig
from openvggt.train.data import validation_batches

log = logging.getLogger(__name__)

_CACHE: dict[tuple, list[dict]] = {}


def decode_cameras(pose_enc: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """``[B, S, 9]`` pose encodings of ``H x W`` images -> ``[B, S, 3, 4]`` world-to-camera extrinsics."""
    extr, _ = pose_encoding_to_extri_intri(pose_enc.float(), image_hw, build_intrinsics=False)
    return extr


@torch.no_grad()
def evaluate(model, batches: Sequence[dict], device: torch.device) -> tuple[dict[str, float], np.ndarray | None]:  # noqa: ANN001
    """Mean camera AUC@30 and depth AbsRel (median-scaled) of ``model`` over single-scene ``batches``.

    Returns the metrics (``auc30``, ``rra15``, ``rta15``, ``abs_rel`` where the heads exist) and the
    first predicted depth map ``[H, W]`` (or None).
    """
    was_training = model.training
    model.eval()
    rows: dict[str, list[float]] = {}
    first_depth = None
    heads = tuple(h for h in ("camera", "depth") if h in model.enabled_heads())
    if not heads:  # e.g. a track-only model: nothing here to measure
        return {}, None
    try:
        for batch in batches:
            images = batch["images"].to(device)
            out = model(images, heads=heads)
            if out.pose_enc is not None:
                extr = decode_cameras(out.pose_enc, tuple(images.shape[-2:]))
                cam = camera_metrics(extr[0].cpu().numpy(), batch["extrinsics"][0].numpy())
                for k in ("auc30", "rra15", "rta15"):
                    rows.setdefault(k, []).append(cam[k])
            if out.depth is not None:
                pred = out.depth[0, ..., 0].float().cpu().numpy()
                rows.setdefault("abs_rel", []).append(
                    depth_metrics(pred, batch["depths"][0].numpy(), align="median")["abs_rel"]
                )
                first_depth = first_depth if first_depth is not None else pred[0]
    finally:
        model.train(was_training)
    return {k: float(np.nanmean(v)) for k, v in rows.items()}, first_depth


@torch.no_grad()
def validate(model, cfg: TrainConfig, device: torch.device, writer=None, step: int = 0) -> dict[str, float]:  # noqa: ANN001

    if cfg.data.val_scenes <= 0:
        return {}
    key = (cfg.data.seed, cfg.data.val_scenes, cfg.data.image_size, model.config.patch_size)
    if key not in _CACHE:
        _CACHE[key] = validation_batches(cfg, model.config.patch_size)
    values, first_depth = evaluate(model, _CACHE[key], device)
    metrics = {f"val/{k}": v for k, v in values.items()}
    if writer is not None:
        for k, v in metrics.items():
            writer.add_scalar(k, v, step)
        if first_depth is not None:
            d = first_depth
            img = (d - d.min()) / max(float(d.max() - d.min()), 1e-9)
            writer.add_image("val/depth0", img[None], step)
    log.info("validation at step %d: %s", step, metrics)
    return metrics
