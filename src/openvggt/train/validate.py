"""Validation during training: camera AUC and depth AbsRel on fixed held-out synthetic samples."""

from __future__ import annotations

import logging

import numpy as np
import torch

from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.metrics import camera_metrics, depth_metrics
from openvggt.train.config import TrainConfig
from openvggt.train.data import validation_batches

log = logging.getLogger(__name__)

_CACHE: dict[tuple, list[dict]] = {}


@torch.no_grad()
def validate(model, cfg: TrainConfig, device: torch.device, writer=None, step: int = 0) -> dict[str, float]:  # noqa: ANN001

    if cfg.data.val_scenes <= 0:
        return {}
    key = (cfg.data.seed, cfg.data.val_scenes, cfg.data.image_size, model.config.patch_size)
    if key not in _CACHE:
        _CACHE[key] = validation_batches(cfg, model.config.patch_size)
    was_training = model.training
    model.eval()
    aucs, absrels = [], []
    first_depth = None
    try:
        for batch in _CACHE[key]:
            images = batch["images"].to(device)
            out = model(images, heads=tuple(h for h in ("camera", "depth") if h in model.enabled_heads()))
            if out.pose_enc is not None:
                extr, _ = pose_encoding_to_extri_intri(out.pose_enc.float(), images.shape[-2:])
                aucs.append(camera_metrics(extr[0].cpu().numpy(), batch["extrinsics"][0].numpy())["auc30"])
            if out.depth is not None:
                pred = out.depth[0, ..., 0].float().cpu().numpy()
                absrels.append(depth_metrics(pred, batch["depths"][0].numpy(), align="median")["abs_rel"])
                first_depth = first_depth if first_depth is not None else pred[0]
    finally:
        model.train(was_training)
    metrics = {}
    if aucs:
        metrics["val/auc30"] = float(np.mean(aucs))
    if absrels:
        metrics["val/abs_rel"] = float(np.nanmean(absrels))
    if writer is not None:
        for k, v in metrics.items():
            writer.add_scalar(k, v, step)
        if first_depth is not None:
            d = first_depth
            img = (d - d.min()) / max(float(d.max() - d.min()), 1e-9)
            writer.add_image("val/depth0", img[None], step)
    log.info("validation at step %d: %s", step, metrics)
    return metrics
