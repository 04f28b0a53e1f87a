"""CPU forward speed of VGGT per precision variant, against this machine's measured floor.

    python benchmarks/cpu_speed.py                      # vggt-1b, 2 frames of 294x518 (the issue's setting)
    python benchmarks/cpu_speed.py --quick              # vggt-small, 2 frames of 112x168: a check in ~1 minute

Every variant runs in a fresh subprocess (so its peak RSS is its own) on the same seeded random weights, stored
once as an fp32 safetensors file and loaded the way users load weights (``Predictor(path, dtype=...)``):

- ``reference``: the stand-in for the official code (which we cannot run here): our model in fp32 with stock
  ``nn.Linear`` layers, all 24 aggregator layers kept (the official behaviour), no DPT positional-embedding
  cache, heads in fp32. Every gain below is measured against it.
- ``fp32``, ``bf16``, ``int8``: ``Predictor(dtype=...)``; ``bf16`` only where the CPU has native bf16 (on others it
  is skipped, with the measured bf16 matmul rate as the reason; ``--emulated-bf16`` runs it anyway).
- ``int8-fbgemm``: int8 with the fbgemm engine forced (``OPENVGGT_INT8_ENGINE=fbgemm``; skipped where ``int8``
  already uses it): fbgemm stores 1 byte per weight, oneDNN about 2 and more during the forward.
- ``compile``: ``Predictor(dtype="auto", compile=True)``. (int8 + compile is refused by the Predictor: compiled
  blocks around torch.ao's quantised linears gave wrong outputs and heap corruption with torch 2.13.)
- ``auto`` is not run twice: the summary names the variant that ``dtype="auto"`` resolves to.

Reported per variant: warm median time, the first call (compile time for compiled variants), load time, GFLOP/s
(FLOPs of the forward from ``torch.utils.flop_counter.FlopCounterMode``, counted once on the fp32 run), the fraction
of this machine's measured matmul peak for the variant's precision, time / floor (floor = linear-layer FLOPs at the
variant's matmul peak + the other FLOPs, attention and convolutions, at the fp32 or bf16 peak), agreement with fp32
(median relative depth and point error, worst camera rotation angle), and peak RSS. Writes JSON + markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "reference": {"dtype": "fp32", "compile": False, "reference": True},
    "fp32": {"dtype": "fp32", "compile": False},
    "bf16": {"dtype": "bf16", "compile": False},
    "int8": {"dtype": "int8", "compile": False},
    # fbgemm keeps 1 byte per weight where oneDNN keeps ~2 (+2 GB during a 1B forward): the leanest variant.
    "int8-fbgemm": {"dtype": "int8", "compile": False, "env": {"OPENVGGT_INT8_ENGINE": "fbgemm"}},
    "compile": {"dtype": "auto", "compile": True},
}
QUICK = {"preset": "vggt-small", "frames": 2, "size": "112x168", "repeat": 3, "warmup": 1}
FULL = {"preset": "vggt-1b", "frames": 2, "size": "294x518", "repeat": 3, "warmup": 1}


# ---------------------------------------------------------------------------------------------- peaks
def _rate(fn, flops: float, min_time: float = 1.0) -> float:  # noqa: ANN001
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or n >= 50:
            return flops * n / elapsed / 1e9


def measure_peaks(native_bf16: bool) -> dict[str, float]:
    """GFLOP/s (GOP/s for int8) of a large matmul per precision on this machine, with the current threads."""
    from openvggt.quant import Int8Linear
    from openvggt.runtime import int8_engine

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    peaks = {"fp32": _rate(lambda: a @ b, 2 * n**3)}
    m = n if native_bf16 else 256  # emulated bf16 is ~100x slower: a small product tells the rate
    ab, bb = torch.randn(m, m, dtype=torch.bfloat16), torch.randn(m, m, dtype=torch.bfloat16)
    peaks["bf16"] = _rate(lambda: ab @ bb, 2 * m**3, min_time=1.0 if native_bf16 else 0.3)
    torch.backends.quantized.engine = int8_engine()
    q = Int8Linear.from_float(torch.nn.Linear(n, n))
    with torch.inference_mode():
        peaks["int8"] = _rate(lambda: q(a), 2 * n**3)
    peaks["int8_engine"] = torch.backends.quantized.engine
    return peaks


# ---------------------------------------------------------------------------------------------- worker
def _count_cpu_attention() -> None:
    """FlopCounterMode has formulas for the CUDA attention kernels only; give the CPU flash kernel the same one."""
    from torch.utils import flop_counter

    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if op in flop_counter.flop_registry or op.default in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def _flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001, ANN002, ANN003
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


def _reference_model(weights: str):  # noqa: ANN202
    """fp32, stock nn.Linear, all layers kept, DPT caches off, heads fp32 (see the module docstring)."""
    from torch import nn

    from openvggt.layers import Linear
    from openvggt.models.vggt import VGGT

    model = VGGT.from_pretrained(weights, dtype=torch.float32)
    for name, module in list(model.named_modules()):
        if isinstance(module, Linear):
            plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, device="meta")
            plain.weight, plain.bias = module.weight, module.bias
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, plain)
    model.heads_fp32 = True
    model.requires_grad_(False)
    for head in (model.depth_head, model.point_head):
        if head is not None:
            head.register_forward_pre_hook(lambda m, _args: m._pos_cache.clear())

    def run(images: torch.Tensor):  # noqa: ANN202
        with torch.inference_mode():
            inter = model.forward_intermediates(images, layers=None)  # all 24 layers, as the official code
            return model.forward_heads(inter, ("camera", "depth", "point"))

    return run


def worker(spec: dict) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from openvggt.predictor import Predictor
    from openvggt.runtime import torch_dtype

    torch.set_num_threads(spec["threads"])
    _count_cpu_attention()
    images = torch.load(spec["inputs"])
    start = time.perf_counter()
    if spec.get("reference"):
        run, dtype = _reference_model(spec["weights"]), "fp32"
    else:
        predictor = Predictor(spec["weights"], device="cpu", dtype=spec["dtype"], compile=spec["compile"])
        run, dtype = predictor, predictor.dtype
        predictor.model.requires_grad_(False)  # FlopCounterMode's module tracker hooks tensors that need grad
    load_s = time.perf_counter() - start
    rss_loaded = _rss_now_gb()
    count = dtype == "fp32" and not spec["compile"]
    flops: dict[str, float] = {}
    times, out = [], None
    for i in range(spec["warmup"] + spec["repeat"]):
        start = time.perf_counter()
        if i == 0 and count:  # the warm-up doubles as the FLOP count (shapes only; the overhead is per op)
            with FlopCounterMode(display=False) as counter:
                out = run(images)
            flops = {str(op): float(v) for op, v in counter.get_flop_counts()["Global"].items()}
        else:
            out = run(images)
        elapsed = time.perf_counter() - start
        if i == 0:
            first_s = elapsed
        if i >= spec["warmup"]:
            times.append(elapsed)
    result = {
        "variant": spec["variant"],
        "dtype": dtype,
        "compile": spec["compile"],
        "int8_engine": torch.backends.quantized.engine if dtype == "int8" else None,
        "rest_dtype": "bf16" if torch_dtype(dtype) == torch.bfloat16 else "fp32",  # attention, convolutions
        "load_s": load_s,
        "first_call_s": first_s,
        "times_s": times,
        "median_s": statistics.median(times),
        "rss_after_load_gb": rss_loaded,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "flops": flops,
    }
    torch.save({k: getattr(out, k).float() for k in ("depth", "world_points", "pose_enc")}, spec["outputs"])
    Path(spec["result"]).write_text(json.dumps(result))


def _rss_now_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


# ---------------------------------------------------------------------------------------------- comparing
def agreement(out: dict, ref: dict) -> dict[str, float]:
    from openvggt.geometry import pose_encoding_to_extri_intri

    d, dr = out["depth"], ref["depth"]
    p, pr = out["world_points"], ref["world_points"]
    hw = d.shape[2:4]
    rot = pose_encoding_to_extri_intri(out["pose_enc"].double(), hw)[0][..., :3]
    rot_ref = pose_encoding_to_extri_intri(ref["pose_enc"].double(), hw)[0][..., :3]
    rel = rot @ rot_ref.transpose(-1, -2)  # [B, S, 3, 3]
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return {
        "depth_rel_median": ((d - dr).abs() / dr.abs().clamp_min(1e-12)).median().item(),
        "points_rel_median": ((p - pr).norm(dim=-1) / pr.norm(dim=-1).clamp_min(1e-12)).median().item(),
        "camera_angle_deg_max": math.degrees(torch.arccos(cos).max().item()),
    }


def split_flops(flops: dict[str, float]) -> dict[str, float]:
    linear = sum(v for k, v in flops.items() if k.split(".")[-1] in ("addmm", "mm", "matmul", "linear"))
    attention = sum(v for k, v in flops.items() if "attention" in k or k.endswith("bmm"))
    conv = sum(v for k, v in flops.items() if "conv" in k)
    total = sum(flops.values())
    return {"total": total, "linear": linear, "attention": attention, "conv": conv,
            "other": total - linear - attention - conv}  # fmt: skip


def floor_s(flops: dict[str, float], peaks: dict, dtype: str, rest_dtype: str) -> float:
    """Linear layers at the variant's matmul peak, everything else at the peak of the precision it runs in."""
    matmul = peaks[dtype] if dtype in ("fp32", "bf16", "int8") else peaks["fp32"]
    rest = peaks[rest_dtype]
    return flops["linear"] / (matmul * 1e9) + (flops["total"] - flops["linear"]) / (rest * 1e9)


# ---------------------------------------------------------------------------------------------- main
def ensure_weights(preset: str, path: Path) -> Path:
    if path.is_file():
        return path
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    print(f"building seeded random {preset} weights -> {path}", flush=True)
    model = random_model(VGGTConfig.preset(preset).with_heads(track=False), seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    return path


def run_variants(args: argparse.Namespace, work: Path, weights: Path, native_bf16: bool, bf16_peak: float) -> dict:
    from openvggt.runtime import int8_engine

    results = {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        if name == "bf16" and not native_bf16 and not args.emulated_bf16:
            results[name] = {"variant": name, "skipped": f"no native bf16 on this CPU: bf16 matmul measured "
                             f"{bf16_peak:.1f} GFLOP/s (pass --emulated-bf16 to run it anyway)"}  # fmt: skip
            print(f"{name:14s} skipped: {results[name]['skipped']}", flush=True)
            continue
        if name == "int8-fbgemm" and int8_engine() == "fbgemm":
            results[name] = {"variant": name, "skipped": "int8 already runs on fbgemm here"}
            continue
        spec = {**VARIANTS[name], "variant": name, "weights": str(weights), "inputs": str(work / "images.pt"),
                "outputs": str(work / f"{name}.out.pt"), "result": str(work / f"{name}.json"),
                "threads": args.threads, "repeat": args.repeat, "warmup": args.warmup}  # fmt: skip
        cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
        start = time.perf_counter()
        try:
            env = {**os.environ, **VARIANTS[name].get("env", {})}
            proc = subprocess.run(cmd, timeout=args.timeout, capture_output=True, text=True, check=False, env=env)
        except subprocess.TimeoutExpired:
            results[name] = {"variant": name, "skipped": f"timed out after {args.timeout} s"}
            print(f"{name:14s} timed out", flush=True)
            continue
        if proc.returncode != 0:
            results[name] = {"variant": name, "skipped": "failed: " + proc.stderr.strip().splitlines()[-1][:200]}
            print(f"{name:14s} {results[name]['skipped']}", flush=True)
            continue
        results[name] = json.loads(Path(spec["result"]).read_text())
        r = results[name]
        print(f"{name:14s} {r['dtype']:5s} median {r['median_s']:7.3f} s  first {r['first_call_s']:7.2f} s  "
              f"peak RSS {r['peak_rss_gb']:.2f} GB  ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return results


def summarise(results: dict, work: Path, peaks: dict, auto: str) -> dict:
    counted = next((r["flops"] for k in ("fp32", "reference") if (r := results.get(k)) and "flops" in r
                    and r["flops"]), None)  # fmt: skip
    flops = split_flops(counted) if counted else None
    ref_out = torch.load(work / "fp32.out.pt") if (work / "fp32.out.pt").is_file() else None
    base = results.get("reference", {}).get("median_s")
    for name, r in results.items():
        if "skipped" in r:
            continue
        if flops:
            r["gflops_per_s"] = flops["total"] / r["median_s"] / 1e9
            peak = peaks[r["dtype"]]
            r["fraction_of_peak"] = r["gflops_per_s"] / peak
            r["floor_s"] = floor_s(flops, peaks, r["dtype"], r.get("rest_dtype", "fp32"))
            r["time_over_floor"] = r["median_s"] / r["floor_s"]
        if base:
            r["speedup_vs_reference"] = base / r["median_s"]
        if ref_out is not None and name != "fp32":
            r["agreement_vs_fp32"] = agreement(torch.load(work / f"{name}.out.pt"), ref_out)
    auto_variant = {"fp32": "fp32", "bf16": "bf16"}.get(auto, auto)
    return {"flops": flops, "auto_resolves_to": auto_variant}


def markdown(payload: dict) -> str:
    s = payload["summary"]
    lines = [
        f"VGGT `{payload['preset']}`, {payload['frames']} frames of {payload['size']}, camera + depth + point heads, "
        f"seeded random weights; {payload['machine']}; {payload['date']}.",
        f"Command: `{payload['command']}`.",
        "",
        "Measured peaks (GFLOP/s; int8: GOP/s, engine {int8_engine}): fp32 {fp32:.0f}, bf16 {bf16:.0f}, "
        "int8 {int8:.0f}.".format(**payload["peaks"]),
    ]
    if s["flops"]:
        f = {k: v / 1e12 for k, v in s["flops"].items()}
        lines.append(f"FLOPs of one forward (TFLOP): {f['total']:.3f} total = linear {f['linear']:.3f} + attention "
                     f"{f['attention']:.3f} + convolutions {f['conv']:.3f} + other {f['other']:.3f}.")  # fmt: skip
    lines += [
        f'`dtype="auto"` on this machine runs **{s["auto_resolves_to"]}** (the `compile` row is auto + compile).',
        "",
        "| variant | precision | median (s) | runs (s) | vs reference | GFLOP/s | of peak | time / floor | "
        "depth err | point err | camera err (deg) | peak RSS (GB) | load (s) | first call (s) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in payload["results"].items():
        if "skipped" in r:
            lines.append(f"| {name} | – | {r['skipped']} |" + " |" * 11)
            continue
        a = r.get("agreement_vs_fp32")
        acc = (f"{a['depth_rel_median']:.3%} | {a['points_rel_median']:.3%} | {a['camera_angle_deg_max']:.3f}"
               if a else "– | – | –")  # fmt: skip
        prec = (
            r["dtype"]
            + (f" ({r['int8_engine']})" if r.get("int8_engine") else "")
            + ("+compile" if r["compile"] else "")
        )

        def fmt(key: str, spec: str, r=r) -> str:  # noqa: ANN001
            return format(r[key], spec) if key in r else "–"

        lines.append(
            f"| {name} | {prec} | {r['median_s']:.3f} | {' / '.join(f'{t:.2f}' for t in r['times_s'])} | "
            f"{fmt('speedup_vs_reference', '.2f')}x | {fmt('gflops_per_s', '.0f')} | "
            f"{fmt('fraction_of_peak', '.0%')} | "
            f"{fmt('time_over_floor', '.2f')} | {acc} | {r['peak_rss_gb']:.2f} | {r['load_s']:.1f} | "
            f"{r['first_call_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"small shapes for a check: {QUICK}")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--size", default=None, help="HxW")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--emulated-bf16", action="store_true", help="run bf16 even without native bf16 (very slow)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per variant")
    ap.add_argument("--weights", type=Path, default=None, help="fp32 weights file (default: built once, cached)")
    ap.add_argument("--out", type=Path, default=None, help="output stem: writes STEM.json and STEM.md")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.out = args.out or REPO / "docs" / "results" / ("cpu_speed_quick" if args.quick else "cpu_speed")
    torch.set_num_threads(args.threads)
    from openvggt.runtime import cpu_capability, describe_device, resolve_dtype

    h, w = (int(v) for v in args.size.split("x"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "openvggt" / "bench"
    weights = ensure_weights(args.preset, args.weights or cache / f"{args.preset}-seed0-fp32.safetensors")
    native = cpu_capability().native_bf16
    peaks = measure_peaks(native)
    print("peaks:", {k: round(v) if isinstance(v, float) else v for k, v in peaks.items()}, flush=True)
    with tempfile.TemporaryDirectory(prefix="cpu_speed_") as tmp:
        work = Path(tmp)
        torch.save(torch.rand(1, args.frames, 3, h, w, generator=torch.Generator().manual_seed(0)), work / "images.pt")
        results = run_variants(args, work, weights, native, peaks["bf16"])
        summary = summarise(results, work, peaks, resolve_dtype("auto", "cpu"))
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}: {describe_device('cpu')}, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "command": "python benchmarks/cpu_speed.py " + " ".join(sys.argv[1:]),
        "env": {
            k: os.environ[k]
            for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")
            if k in os.environ
        },  # fmt: skip
        "preset": args.preset,
        "frames": args.frames,
        "size": args.size,
        "peaks": peaks,
        "summary": summary,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(payload, indent=1)), (".md", markdown(payload))):
        tmp = args.out.with_name(f".{args.out.name}{suffix}.tmp")
        tmp.write_text(text)
        tmp.replace(args.out.with_suffix(suffix))
    print(markdown(payload))
    print(f"wrote {args.out}.json and {args.out}.md")


if __name__ == "__main__":
    main()
