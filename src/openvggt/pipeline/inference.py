"""The inference step of the pipeline jobs: a :class:`~openvggt.predictor.Predictor` for the heads a job needs.

The jobs run the model through the predictor (``predictor(images, heads=..., keep_intermediates=...)``); this
module only builds it, from weights or from a model or predictor handed in, and turns weights that lack a head
an option needs into a one-line error naming the option.
"""

from __future__ import annotations

import os

import torch

from openvggt.errors import CheckpointError, InputError
from openvggt.models.vggt import VGGT
from openvggt.predictor import Predictor

__all__ = ["load_predictor"]

_NEEDS = {"track": "--ba and `openvggt track` need it", "point": "--use-point-map needs it"}


def load_predictor(
    weights: str | os.PathLike | None = "default",
    heads: tuple[str, ...] = ("camera", "depth"),
    *,
    model: VGGT | None = None,
    predictor: Predictor | None = None,
    device: str = "auto",
    dtype: str = "auto",
    mode: str = "crop",
    size: int | None = None,
) -> Predictor:
    """A predictor whose model has ``heads``: built from ``weights``, or around ``model`` / ``predictor``."""
    if predictor is not None:
        missing = [h for h in heads if h not in predictor.model.enabled_heads()]
        if missing:
            raise InputError(f"the model has no {' or '.join(missing)} head ({'; '.join(_NEEDS[h] for h in missing)})")
        if mode == predictor.mode and size in (None, predictor.size):
            return predictor
        return Predictor(model=predictor.model, device=predictor.device, dtype=predictor.dtype, mode=mode, size=size)
    if model is not None:
        missing = [h for h in heads if h not in model.enabled_heads()]
        if missing:
            raise InputError(f"the model has no {' or '.join(missing)} head ({'; '.join(_NEEDS[h] for h in missing)})")
        where = next(model.parameters()).device if device == "auto" else device
        return Predictor(model=model, device=where, dtype=dtype, mode=mode, size=size, progress=True)
    try:
        return Predictor(weights, device=device, dtype=dtype, heads=heads, mode=mode, size=size, progress=True)
    except CheckpointError:
        base = tuple(h for h in heads if h in ("camera", "depth"))  # what every VGGT checkpoint has
        optional = [h for h in heads if h not in base]
        if not optional or not _loads(weights, base or ("camera",)):
            raise
        lacking = [h for h in optional if not _loads(weights, base + (h,))]
        what = "; ".join(f"no {h} head ({_NEEDS[h]})" for h in lacking)
        raise InputError(f"{weights}: these weights have {what}") from None


def _loads(weights: str | os.PathLike, heads: tuple[str, ...]) -> bool:
    """Whether ``weights`` hold every parameter of ``heads`` (checked on the meta device: no memory)."""
    try:
        VGGT.from_pretrained(weights, device=torch.device("meta"), heads=heads)
    except CheckpointError:
        return False
    return True
