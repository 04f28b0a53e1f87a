"""Running the model for the pipeline: device/dtype handling and access to the aggregated tokens.

The tokens are captured with a forward hook on the aggregator, so the model runs exactly its own
``forward`` and the track head can later reuse the tokens (one aggregator pass for everything).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch

from openvggt.errors import InputError
from openvggt.models.vggt import VGGT, VGGTOutput
from openvggt.runtime import autocast, resolve_dtype

log = logging.getLogger(__name__)


@dataclass
class ModelRun:
    """One forward pass: outputs as float32 on the CPU, tokens kept on the device for the track head."""

    output: VGGTOutput
    tokens: dict[int, torch.Tensor] | None  # {layer: [1, S, P, 2C]}
    patch_start_idx: int
    image_hw: tuple[int, int]


@contextlib.contextmanager
def _block_progress(model: VGGT, heads: tuple[str, ...]):  # noqa: ANN202
    """A progress bar ticking once per aggregator block and head (shown on terminals only)."""
    from tqdm import tqdm

    agg = model.aggregator
    blocks = [b for name in ("frame_blocks", "global_blocks") for b in getattr(agg, name, [])]
    head_modules = [getattr(model, f"{h}_head", None) for h in heads]
    modules = blocks + [m for m in head_modules if m is not None]
    bar = tqdm(total=len(modules), desc="inference", unit="block", disable=None, leave=False)
    handles = [m.register_forward_hook(lambda *_: bar.update(1)) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        bar.close()


def run_model(
    model: VGGT, images: torch.Tensor, heads: tuple[str, ...], dtype: str = "fp32", keep_tokens: bool = False
) -> ModelRun:
    """Run ``heads`` on ``images [S, 3, H, W]`` (one scene) under ``dtype``.

    With no heads, only the aggregator runs (for the layers the track head reads) and the tokens are kept.
    """
    device = next(model.parameters()).device
    dtype = resolve_dtype(dtype, device)
    if not heads:
        with torch.inference_mode(), autocast(device, dtype):
            tokens, start = model.aggregator(images[None].to(device), layers=model.layers_for(("track",)))
        return ModelRun(VGGTOutput(), tokens, start, (images.shape[-2], images.shape[-1]))
    captured: dict = {}
    hook = model.aggregator.register_forward_hook(lambda _m, _i, out: captured.update(out=out)) if keep_tokens else None
    try:
        with torch.inference_mode(), autocast(device, dtype), _block_progress(model, heads):
            out = model(images.to(device), heads=heads)
    finally:
        if hook is not None:
            hook.remove()
    cpu = VGGTOutput()
    for name in out:
        value = out[name]
        if isinstance(value, torch.Tensor):
            setattr(cpu, name, value.detach().float().cpu())
        elif isinstance(value, list):
            setattr(cpu, name, [v.detach().float().cpu() for v in value])
    tokens, start = captured.get("out", (None, 0))
    return ModelRun(cpu, tokens, start, (images.shape[-2], images.shape[-1]))


def load_model_for(weights: str | os.PathLike, device: torch.device, heads: tuple[str, ...]):  # noqa: ANN202
    """The model with only ``heads``; a clear error when the weights lack a head that an option needs."""
    from openvggt.io.checkpoint import CheckpointError, load_model

    try:
        return load_model(weights, device=device, heads=heads)
    except CheckpointError:
        base = tuple(h for h in heads if h in ("camera", "depth"))  # what every VGGT checkpoint has
        optional = [h for h in heads if h not in base]
        if not optional or not _loads(weights, base or ("camera",)):
            raise
        needs = {"track": "--ba and `openvggt track` need it", "point": "--use-point-map needs it"}
        lacking = [h for h in optional if not _loads(weights, base + (h,))]
        what = "; ".join(f"no {h} head ({needs[h]})" for h in lacking)
        raise InputError(f"{weights}: these weights have {what}") from None


def _loads(weights: str | os.PathLike, heads: tuple[str, ...]) -> bool:
    """Whether ``weights`` hold every parameter of ``heads`` (checked on the meta device: no memory)."""
    from openvggt.io.checkpoint import CheckpointError, load_model

    try:
        load_model(weights, device="meta", heads=heads)
    except CheckpointError:
        return False
    return True
