"""Forward-pass benchmark: time and peak memory against the number of frames, for any precision / compile variant.

Runs through :class:`~openvggt.predictor.Predictor` (``dtype`` auto/fp32/bf16/fp16/int8, ``compile``), so it times
exactly what users run. The first call is reported on its own (it includes compiling with ``compile=True``).
Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA (reset per row) and the process's peak
resident set size on CPU (monotonic over a run, so rows are measured from few to many frames).
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from openvggt.models.config import VGGTConfig
from openvggt.models.init import random_model
from openvggt.predictor import Predictor
from openvggt.runtime import describe_device, load_dtype, resolve_device, resolve_dtype

log = logging.getLogger(__name__)


@dataclass
class BenchRow:
    frames: int
    height: int
    width: int
    dtype: str  # the precision that ran (``auto`` resolved)
    device: str
    heads: str
    time_s: float  # median over repeats
    times_s: list[float]
    peak_mem_gb: float
    compile: bool = False
    first_call_s: float = float("nan")  # the first (warm-up) call: includes compiling with compile=True
    ok: bool = True
    error: str = ""


def machine_description(device: str) -> str:
    return describe_device(resolve_device(device))


def _peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def build_predictor(
    preset: str,
    weights: str | None,
    device: str,
    heads: tuple[str, ...],
    dtype: str = "auto",
    compile: bool = False,  # noqa: A002
) -> Predictor:
    """A predictor on ``weights``, or on seeded random weights of ``preset`` built in the precision they run in."""
    if weights:
        return Predictor(weights, device=device, dtype=dtype, heads=heads, compile=compile, keep_on_device=True)
    dev = resolve_device(device)
    cfg = VGGTConfig.preset(preset).with_heads(**{h: h in heads for h in ("camera", "depth", "point", "track")})
    model = random_model(cfg, device=dev, dtype=load_dtype(dev, resolve_dtype(dtype, dev)))
    return Predictor(model=model, device=dev, dtype=dtype, compile=compile, keep_on_device=True)


def time_calls(predictor: Predictor, images: torch.Tensor, repeat: int, warmup: int) -> tuple[float, list[float]]:
    """(seconds of the first call, seconds of each of ``repeat`` calls after ``warmup`` calls)."""
    cuda = images.device.type == "cuda"
    times, first = [], float("nan")
    for i in range(warmup + repeat):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        predictor(images)
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if i == 0:
            first = elapsed
        if i >= warmup:
            times.append(elapsed)
    return first, times


def run_bench(
    preset: str = "vggt-1b",
    frames: list[int] | tuple[int, ...] = (1, 2),
    height: int = 294,
    width: int = 518,
    dtype: str = "auto",
    device: str = "cpu",
    heads: tuple[str, ...] = ("camera", "depth", "point"),
    repeat: int = 3,
    warmup: int = 1,
    weights: str | None = None,
    progress: bool = True,
    compile: bool = False,  # noqa: A002
) -> list[BenchRow]:
    from tqdm import tqdm

    predictor = build_predictor(preset, weights, device, heads, dtype, compile)
    dev = str(predictor.device)
    rows = []
    for s in tqdm(sorted(frames), desc="bench", disable=not progress):
        gen = torch.Generator().manual_seed(s)
        images = torch.rand(1, s, 3, height, width, generator=gen).to(predictor.device)
        if dev.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        row = {"frames": s, "height": height, "width": width, "dtype": predictor.dtype, "device": dev,
               "heads": ",".join(heads), "compile": compile}  # fmt: skip
        try:
            first, times = time_calls(predictor, images, repeat, warmup)
        except torch.OutOfMemoryError as exc:  # the table ends where memory does
            rows.append(
                BenchRow(**row, time_s=float("nan"), times_s=[], peak_mem_gb=0.0, ok=False, error=str(exc)[:80])
            )
            break
        rows.append(BenchRow(**row, time_s=statistics.median(times), times_s=times, first_call_s=first,
                             peak_mem_gb=_peak_memory_gb(dev)))  # fmt: skip
        del images
    return rows


def format_table(rows: list[BenchRow]) -> str:
    lines = [
        "| frames | size | dtype | device | time (s) | first call (s) | peak mem (GB) |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        time_s = f"{r.time_s:.3f}" if r.ok else f"failed: {r.error}"
        dtype = f"{r.dtype}+compile" if r.compile else r.dtype
        lines.append(f"| {r.frames} | {r.height}x{r.width} | {dtype} | {r.device} | {time_s} | "
                     f"{r.first_call_s:.3f} | {r.peak_mem_gb:.2f} |")  # fmt: skip
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
