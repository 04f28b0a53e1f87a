"""Chunk planning: which frames each chunk holds, from ``--chunk N --overlap K`` or a memory budget.

A plan covers frames ``0 .. S-1`` with chunks ``[start, end)`` of ``chunk`` frames (one shorter chunk when the
sequence is); consecutive chunks share at least ``overlap`` frames: the fewest chunks that can, spread evenly
(so no chunk is left with only a couple of new frames).
Each frame is *owned* by the first chunk that holds it: its outputs come from that chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from openvggt.errors import InputError
from openvggt.models.config import VGGTConfig

log = logging.getLogger(__name__)

MIN_OVERLAP = 2  # a Sim(3) between chunks needs shared frames; 2 give points seen from two cameras
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first frame
    end: int  # one past the last frame
    own_start: int  # first frame this chunk owns (frames before it belong to the previous chunk)

    @property
    def frames(self) -> range:
        return range(self.start, self.end)

    def __len__(self) -> int:
        return self.end - self.start


def plan_chunks(num_frames: int, chunk: int, overlap: int) -> list[Chunk]:
    """Chunks of at most ``chunk`` frames over ``num_frames``, consecutive ones sharing ``overlap`` frames.

    One chunk when ``num_frames <= chunk``. Raises :class:`InputError` for impossible settings.
    """
    if num_frames < 1:
        raise InputError("no frames to reconstruct")
    if chunk < 1:
        raise InputError(f"--chunk must be at least 1, got {chunk}")
    if num_frames <= chunk:
        return [Chunk(0, 0, num_frames, 0)]
    if overlap < MIN_OVERLAP:
        raise InputError(f"--overlap must be at least {MIN_OVERLAP} to align chunks, got {overlap}")
    if overlap >= chunk:
        raise InputError(f"--overlap ({overlap}) must be smaller than --chunk ({chunk})")
    step = chunk - overlap
    count = -(-(num_frames - overlap) // step)  # ceil: chunks needed at the full step
    starts = [round(i * (num_frames - chunk) / (count - 1)) for i in range(count)]  # evenly spread, full chunks
    chunks = []
    for i, start in enumerate(starts):
        own = 0 if i == 0 else chunks[-1].end
        chunks.append(Chunk(i, start, start + chunk, own))
    return chunks


def frame_bytes(config: VGGTConfig, hw: tuple[int, int], dtype: str = "fp32", heads: int = 2) -> int:
    """Estimated bytes one more frame adds to the peak of one forward pass (inference, no gradients).

    Per frame, the aggregator holds ``P = 1 + R + h*w`` tokens of width ``C``: the running tokens plus about
    ten token-sized temporaries of a block (norm, q/k/v, attention output, the 4x MLP hidden), and the four
    kept layers at ``2C`` that the heads read; then the fp32 outputs of the heads (about 4 maps each) and the
    fp32 input image. Fused attention holds no ``P x P`` matrix; the DPT heads decode a few frames at a time
    (:func:`fixed_bytes`). Checked against measured peaks in ``benchmarks/long_sequences.py onepass``
    (vggt-small at 168x126: 3.3 MB estimated, 2.4 MB measured): it errs on the high side.
    """
    if dtype not in BYTES:
        raise InputError(f"unknown dtype {dtype!r}; choose from {', '.join(BYTES)}")
    b = BYTES[dtype]
    h, w = hw[0] // config.patch_size, hw[1] // config.patch_size
    tokens = 1 + config.num_register_tokens + h * w
    c = config.embed_dim
    trunk = tokens * c * b * (2 + 10)
    kept = len(config.dpt.intermediate_layer_idx) * tokens * 2 * c * b
    pixels = hw[0] * hw[1]
    return int(trunk + kept + heads * pixels * 4 * 4 + pixels * 3 * 4)


def fixed_bytes(config: VGGTConfig, hw: tuple[int, int], dtype: str = "fp32", dpt_heads: int = 1) -> int:
    """Estimated bytes of the DPT heads' working set: ``frames_chunk_size`` frames decoded at once, about three
    fp32 maps of ``features`` channels at the full input resolution each (the depth head; 2 with the point
    head). Measured on vggt-1b at 336x518 in bf16: ~560 MB per frame while the chunk fills (2 -> 4 frames)."""
    chunk = config.dpt.frames_chunk_size or 8
    return int(dpt_heads * chunk * config.dpt.features * hw[0] * hw[1] * 4 * 3)


def default_memory_budget(device: torch.device | str) -> float:
    """GB a chunk may use by default: 80% of a GPU's memory, half of the CPU RAM that is available now."""
    device = torch.device(device)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return 0.8 * total / 1e9
    import psutil

    return 0.5 * psutil.virtual_memory().available / 1e9


def chunk_for_budget(
    config: VGGTConfig, hw: tuple[int, int], budget_gb: float, dtype: str = "fp32", model_bytes: int = 0
) -> int:
    """The largest chunk (frames) whose estimated peak fits ``budget_gb`` besides the model's own bytes."""
    if not budget_gb > 0:
        raise InputError(f"--max-memory must be positive (GB), got {budget_gb}")
    base = model_bytes + fixed_bytes(config, hw, dtype)
    per_frame = frame_bytes(config, hw, dtype)
    frames = int((budget_gb * 1e9 - base) // per_frame)
    if frames < MIN_OVERLAP + 2:
        need = (base + (MIN_OVERLAP + 2) * per_frame) / 1e9
        raise InputError(f"--max-memory {budget_gb:g} GB is too small for this model: at least {need:.2f} GB needed")
    log.debug("memory budget %.2f GB: %.1f MB per frame -> chunks of %d", budget_gb, per_frame / 1e6, frames)
    return frames


def default_overlap(chunk: int) -> int:
    """A quarter of the chunk, at least :data:`MIN_OVERLAP`, at most 16 frames."""
    return max(MIN_OVERLAP, min(16, chunk // 4))
