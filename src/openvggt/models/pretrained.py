"""Getting weights into a model: resolve a source, read it, check it strictly, build the model on meta.

Sources, in the order they are tried:
1. an existing file: ``.safetensors`` (config may be stored in its metadata), ``.pt``/``.pth``/``.bin``
   (loaded with ``weights_only=True``; a training checkpoint ``{"model": state_dict, ...}`` works too);
2. an existing folder holding ``model.safetensors`` or ``model.pt`` (and optionally ``config.json``);
3. ``"default"``: the small model shipped inside the package;
4. otherwise a Hugging Face repo id (``facebook/VGGT-1B``), fetched through ``huggingface_hub`` with its
   cache and offline mode (``HF_HUB_OFFLINE=1``) honoured.

:class:`PretrainedMixin` gives :class:`~openvggt.models.vggt.VGGT` its ``from_pretrained``; saving and
conversion live in :mod:`openvggt.io.checkpoint`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from openvggt.errors import CheckpointError
from openvggt.models.config import VGGTConfig

log = logging.getLogger(__name__)

CONFIG_METADATA_KEY = "openvggt_config"
HUB_WEIGHT_FILES = ("model.safetensors", "model.pt")
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "vggt-small.safetensors"
OFFICIAL_REPO = "facebook/VGGT-1B"
HEAD_NAMES = ("camera", "depth", "point", "track")
# What every job run with the shipped model says once, in its log and on its report page (docs/model_card.md).
DEFAULT_MODEL_CAVEAT = (
    "the shipped default model (vggt-small, trained 2 h on a CPU) gives coarse depth but cameras near chance "
    "from its camera head (docs/model_card.md), so reconstruct solves them from image matches instead "
    "(--cameras auto); for the model's own cameras use --weights facebook/VGGT-1B or your own trained weights"
)


def is_default_weights(source: str | Path | None) -> bool:
    """Whether ``source`` names the shipped default model (``"default"`` or its file)."""
    if source is None:
        return False
    if str(source) == "default":
        return True
    try:
        return Path(source).expanduser().resolve() == DEFAULT_WEIGHTS
    except (OSError, RuntimeError):
        return False


# ---------------------------------------------------------------------------------------------- reading
def read_state_dict(
    path: str | Path, dtype: torch.dtype | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata from a weights file; floating tensors cast to ``dtype`` one at a time as read.

    safetensors files are memory-mapped and read tensor by tensor, so loading a fp32 file in bf16 never holds the
    fp32 copy of more than one tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            if dtype is not None and _stored_dtypes(path) - {dtype}:
                return _read_safetensors_casting(path, dtype)
            from safetensors import safe_open

            # Nothing to cast: the tensors stay memory-mapped (pages are read when the forward first touches them).
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
            return tensors, metadata
        obj = _torch_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # corrupt file, pickle with code, wrong format
        raise CheckpointError(f"cannot read weights from {path}: {exc}") from exc
    metadata = {}
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        if isinstance(obj.get("model_config"), Mapping):  # an openvggt training checkpoint
            metadata[CONFIG_METADATA_KEY] = json.dumps(obj["model_config"])
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    obj = dict(obj)
    for k in list(obj):  # in place, so each full-precision tensor is freed as soon as it is cast
        obj[k] = _cast(obj[k], _dtype_of(k, dtype))
    return obj, metadata


# safetensors dtype names (the format's header) -> torch dtypes.
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip


def _header(path: Path) -> tuple[dict, int]:
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        return json.loads(fh.read(size)), 8 + size


def _stored_dtypes(path: Path) -> set[torch.dtype]:
    header, _ = _header(path)
    return {_SAFETENSORS_DTYPES[v["dtype"]] for k, v in header.items() if k != "__metadata__"
            and _SAFETENSORS_DTYPES[v["dtype"]].is_floating_point}  # fmt: skip


def _read_safetensors_casting(path: Path, dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file tensor by tensor with plain reads, casting floats to ``dtype`` as they arrive.

    Why not ``safe_open``: it memory-maps the whole file, and every mapped page it reads stays in the process's
    resident set until the file is closed, so casting a 5 GB fp32 file to bf16 peaked at 7.3 GB (measured).
    Plain reads go through the page cache, not the process: the peak is the cast copy plus one tensor.
    The format (8-byte header length, JSON header with dtype / shape / data offsets, raw little-endian data) is
    the published safetensors layout; the library itself is still used for every uncast read.
    """
    header, base = _header(path)
    metadata = header.pop("__metadata__", None) or {}
    sizes = [end - start for start, end in (info["data_offsets"] for info in header.values())]
    # Tensors that are cast are read through one reused buffer (the cast makes the copy that is kept); a fresh
    # zero-filled buffer per tensor cost 5 GB of page faults for VGGT-1B's fp32 file (bf16 load 6.2 -> 3.5 s).
    scratch = bytearray(max(sizes, default=0))
    tensors = {}
    with open(path, "rb") as fh:
        for name, info in header.items():
            start, end = info["data_offsets"]
            src = _SAFETENSORS_DTYPES[info["dtype"]]
            target = _dtype_of(name, dtype)
            cast = target is not None and src.is_floating_point and target != src
            buf = memoryview(scratch)[: end - start] if cast else bytearray(end - start)
            fh.seek(base + start)
            if fh.readinto(buf) != len(buf):
                raise CheckpointError(f"{path} is truncated (tensor {name})")
            t = torch.frombuffer(buf, dtype=src) if len(buf) else torch.empty(0, dtype=src)
            tensors[name] = t.reshape(info["shape"]).to(target) if cast else t.reshape(info["shape"])
    return tensors, metadata


def _torch_load(path: Path) -> object:
    """``torch.load`` memory-mapped where the file format allows it (zip checkpoints), so casting as we go
    never holds two full copies; legacy (non-zip) files are read whole."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc) and "zipfile" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


# Modules whose parameters stay float32 whatever dtype the rest is loaded in: the tracker computes pixel
# coordinates (bf16 resolves ~2 px at 512 px) and mixes float32 inputs with its norms' parameters.
FLOAT32_MODULES = ("track_head",)


def _dtype_of(name: str, dtype: torch.dtype | None) -> torch.dtype | None:
    if dtype is not None and any(name.startswith(f"{m}.") for m in FLOAT32_MODULES):
        return torch.float32
    return dtype


def _cast(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return t.to(dtype) if dtype is not None and t.is_floating_point() else t


def config_from_metadata(metadata: Mapping[str, str]) -> VGGTConfig | None:
    text = metadata.get(CONFIG_METADATA_KEY)
    return VGGTConfig.from_dict(json.loads(text)) if text else None


def config_from_json(path: Path) -> VGGTConfig | None:
    """Our own ``config.json`` or the official hub mixin's constructor kwargs."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if CONFIG_METADATA_KEY in data:
        return VGGTConfig.from_dict(data[CONFIG_METADATA_KEY])
    official = {
        "img_size",
        "patch_size",
        "embed_dim",
        "enable_camera",
        "enable_point",
        "enable_depth",
        "enable_track",
    }
    kwargs = {k: v for k, v in data.items() if k in official}
    return VGGTConfig.from_dict(kwargs)


# ---------------------------------------------------------------------------------------------- sources
def resolve_source(source: str | Path, revision: str | None = None) -> tuple[Path, VGGTConfig | None]:
    """Local weights file and any config found beside it (see the module docstring for the rules)."""
    if str(source) == "default":
        if not DEFAULT_WEIGHTS.is_file():
            raise CheckpointError(f"the shipped default model is missing from the install ({DEFAULT_WEIGHTS})")
        source = DEFAULT_WEIGHTS
    path = Path(source).expanduser()
    if path.is_file():
        return path, config_from_json(path.with_name("config.json")) if path.suffix != ".safetensors" else None
    if path.is_dir():
        for name in HUB_WEIGHT_FILES:
            if (path / name).is_file():
                return path / name, config_from_json(path / "config.json")
        raise CheckpointError(f"no {' or '.join(HUB_WEIGHT_FILES)} in folder {path}")
    if path.suffix in (".pt", ".pth", ".bin", ".safetensors") or str(source).startswith((".", "/", "~")):
        raise CheckpointError(f"weights file not found: {path}")
    return _from_hub(str(source), revision)


def _from_hub(repo_id: str, revision: str | None) -> tuple[Path, VGGTConfig | None]:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise CheckpointError("loading from the Hugging Face hub needs huggingface_hub") from exc
    errors = []
    for name in HUB_WEIGHT_FILES:
        try:
            weights = Path(hf_hub_download(repo_id, name, revision=revision))
        except EntryNotFoundError:
            continue
        except LocalEntryNotFoundError as exc:
            errors.append(exc)
            continue
        except Exception as exc:  # network errors, unknown repo, auth
            errors.append(exc)
            continue
        config = None
        try:
            config = config_from_json(Path(hf_hub_download(repo_id, "config.json", revision=revision)))
        except Exception:  # config is optional: the official repo's kwargs are defaults anyway
            log.debug("no config.json for %s", repo_id)
        return weights, config
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface/hub"
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    why = "offline mode is on" if offline else f"the hub could not be reached ({errors[-1].__class__.__name__})"
    raise CheckpointError(
        f"cannot get weights for {repo_id!r}: {why} and they are not in the cache; download "
        f"'{HUB_WEIGHT_FILES[1]}' from https://huggingface.co/{repo_id} and pass its path "
        f"(--weights /path/to/{HUB_WEIGHT_FILES[1]}), or place the repo in the Hugging Face cache ({cache})"
    )


# ---------------------------------------------------------------------------------------------- loading
def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise one readable error listing missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if not (missing or unexpected or misshaped):
        return
    lines = [
        f"checkpoint does not match the model: {len(missing)} missing, {len(unexpected)} unexpected, "
        f"{len(misshaped)} mis-shaped keys (is the config right?)"
    ]
    for title, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            shown = ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")
            lines.append(f"  {title}: {shown}")
    raise CheckpointError("\n".join(lines))


class PretrainedMixin:
    """``from_pretrained`` for a model class built as ``cls(config)`` whose heads are ``<name>_head``."""

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        config: VGGTConfig | str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        revision: str | None = None,
        heads: tuple[str, ...] | None = None,
    ) -> Any:
        """Build the model and load weights strictly from a file, folder, ``"default"`` or hub id.

        Config resolution: ``config`` argument (a ``VGGTConfig`` or preset name) > config stored in the
        safetensors metadata > ``config.json`` beside the weights > the official ``vggt-1b``.
        ``heads`` keeps only the named heads (their weights are skipped, others must match exactly).
        Weights are cast to ``dtype`` (fp32 by default) as they are assigned: no second copy is made.
        """
        path, found_config = resolve_source(source, revision)
        target = dtype or torch.float32
        state, metadata = read_state_dict(path, target)
        if isinstance(config, str):
            config = VGGTConfig.preset(config)
        cfg = config or config_from_metadata(metadata) or found_config or VGGTConfig()
        if heads is not None:
            dropped = [h for h in HEAD_NAMES if h not in heads]
            cfg = cfg.with_heads(**{h: h in heads for h in HEAD_NAMES})
            state = {k: v for k, v in state.items() if not any(k.startswith(f"{h}_head.") for h in dropped)}
        with torch.device("meta"):
            model = cls(cfg)
        check_state_dict(model, state)
        model.load_state_dict(state, strict=True, assign=True)
        for name in FLOAT32_MODULES:  # also when the file itself stores them in half precision
            module = getattr(model, name, None)
            if module is not None:
                module.float()
        model.restore_buffers(device)
        model = model.to(device=device)
        log.info("loaded %s (%s parameters)", path, f"{sum(p.numel() for p in model.parameters()):,}")
        return model.eval()
