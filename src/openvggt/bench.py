"""Forward-pass benchmark: time and peak memory against the number of frames.

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA (reset per row) and the process's peak
resident set size on CPU (monotonic over a run, so rows are measured from few to many frames).
"""

from __future__ import annotations

import json
import logging
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from openvggt.io.checkpoint import load_model
from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class BenchRow:
    frames: int
    height: int
    width: int
    dtype: str
    device: str
    heads: str
    time_s: float  # median over repeats
    times_s: list[float]
    peak_mem_gb: float
    ok: bool = True
    error: str = ""


def machine_description(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def _peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def build_model(preset: str, weights: str | None, device: str, heads: tuple[str, ...]):  # noqa: ANN201

    if weights:
        return load_model(weights, device=device, heads=heads)
    cfg = VGGTConfig.preset(preset).with_heads(**{h: h in heads for h in ("camera", "depth", "point", "track")})
    return random_model(cfg, device=device)


def time_forward(model, images: torch.Tensor, dtype: str, repeat: int, warmup: int) -> list[float]:  # noqa: ANN001
    device_type = images.device.type
    autocast = torch.autocast(device_type, dtype=DTYPES[dtype], enabled=dtype != "fp32")
    times = []
    for i in range(warmup + repeat):
        if device_type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode(), autocast:
            model(images)
        if device_type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def run_bench(
    preset: str = "vggt-1b",
    frames: list[int] | tuple[int, ...] = (1, 2),
    height: int = 294,
    width: int = 518,
    dtype: str = "bf16",
    device: str = "cpu",
    heads: tuple[str, ...] = ("camera", "depth", "point"),
    repeat: int = 3,
    warmup: int = 1,
    weights: str | None = None,
    progress: bool = True,
) -> list[BenchRow]:
    from tqdm import tqdm

    model = build_model(preset, weights, device, heads)
    rows = []
    for s in tqdm(sorted(frames), desc="bench", disable=not progress):
        gen = torch.Generator().manual_seed(s)
        images = torch.rand(1, s, 3, height, width, generator=gen).to(device)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        row = {
            "frames": s,
            "height": height,
            "width": width,
            "dtype": dtype,
            "device": device,
            "heads": ",".join(heads),
        }
        try:
            times = time_forward(model, images, dtype, repeat, warmup)
        except torch.OutOfMemoryError as exc:  # the table ends where memory does
            rows.append(
                BenchRow(**row, time_s=float("nan"), times_s=[], peak_mem_gb=0.0, ok=False, error=str(exc)[:80])
            )
            break
        rows.append(
            BenchRow(**row, time_s=statistics.median(times), times_s=times, peak_mem_gb=_peak_memory_gb(device))
        )
        del images
    return rows


def format_table(rows: list[BenchRow]) -> str:
    lines = ["| frames | size | dtype | device | time (s) | peak mem (GB) |", "|---:|---|---|---|---:|---:|"]
    for r in rows:
        time_s = f"{r.time_s:.3f}" if r.ok else f"failed: {r.error}"
        lines.append(f"| {r.frames} | {r.height}x{r.width} | {r.dtype} | {r.device} | {time_s} | {r.peak_mem_gb:.2f} |")
    return "\n".join(lines)


def write_json(rows: list[BenchRow], path: str | Path, **meta) -> Path:  # noqa: ANN003
    path = Path(path)
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(rows[0].device if rows else "cpu"),
        **meta,
        "rows": [asdict(r) for r in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))
    return path
