"""Saving and converting checkpoints (reading them is :mod:`openvggt.models.pretrained`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from openvggt.errors import CheckpointError
from openvggt.models.config import VGGTConfig
from openvggt.models.pretrained import (
    CONFIG_METADATA_KEY,
    check_state_dict,
    config_from_metadata,
    read_state_dict,
    resolve_source,
)
from openvggt.models.vggt import VGGT

__all__ = ["CheckpointError", "convert_checkpoint", "load_model", "save_model", "save_state_dict"]


def load_model(source: str | Path, **kwargs: Any) -> VGGT:
    """:meth:`VGGT.from_pretrained` under its historical name (same arguments)."""
    return VGGT.from_pretrained(source, **kwargs)


# ---------------------------------------------------------------------------------------------- saving
def save_model(
    model: torch.nn.Module,
    path: str | Path,
    dtype: torch.dtype | None = None,
    extra_metadata: dict | None = None,
) -> Path:
    """Write weights (+ config in the metadata) to ``.safetensors`` atomically."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    return save_state_dict(state, path, config=getattr(model, "config", None), dtype=dtype, extra=extra_metadata)


def save_state_dict(
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    config: VGGTConfig | None = None,
    dtype: torch.dtype | None = None,
    extra: dict | None = None,
) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    metadata = {k: str(v) for k, v in (extra or {}).items()}
    if config is not None:
        metadata[CONFIG_METADATA_KEY] = json.dumps(config.to_dict())
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(tmp), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a normal file, not the 0600 of a temporary one
    os.replace(tmp, path)
    return path


def convert_checkpoint(
    src: str | Path,
    dst: str | Path,
    dtype: torch.dtype | None = None,
    config: VGGTConfig | str | None = None,
) -> Path:
    """Convert any readable checkpoint to ``.safetensors`` (optionally fp16/bf16), checked strictly."""
    path, found_config = resolve_source(src)
    state, metadata = read_state_dict(path)
    if isinstance(config, str):
        config = VGGTConfig.preset(config)
    cfg = config or config_from_metadata(metadata) or found_config or VGGTConfig()
    with torch.device("meta"):
        model = VGGT(cfg)
    check_state_dict(model, state)
    return save_state_dict(state, dst, config=cfg, dtype=dtype)
