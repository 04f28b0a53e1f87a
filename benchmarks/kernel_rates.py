"""Rates of the kernels a VGGT-1B CPU forward is made of, at its shapes, per precision: what bounds each variant.

    python benchmarks/kernel_rates.py [--threads 2] [--json docs/results/kernel_rates_<machine>.json]

2 frames of 294x518 give 2 x 782 tokens of width 1024 (MLP 4096), 16 heads of 64, and DPT convolutions of
256 channels at 4x-16x the 21x37 patch grid. Per kernel: median warm time and GFLOP/s (GOP/s for integer
kernels); for the quantised convolution also its error against fp32 (the int8 kernels are only useful where it
is small). Rows that cannot run on this build or CPU say why instead of a rate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openvggt.quant import Int8Linear, int8_engines
from openvggt.runtime import cpu_capability

with warnings.catch_warnings():  # openvggt.quant imported it already (silenced); this only names it
    warnings.simplefilter("ignore")
    import torch.ao.nn.quantized.dynamic as nnqd

FULL = {"tokens": 1564, "width": 1024, "hidden": 4096, "heads": 16, "head_dim": 64, "matmul": 2048,
        "convs": ((256, 256, 84, 148), (256, 256, 168, 296), (256, 128, 168, 296), (128, 32, 294, 518))}  # fmt: skip
# A check of the script in seconds.
QUICK = {
    "tokens": 64,
    "width": 64,
    "hidden": 128,
    "heads": 2,
    "head_dim": 16,
    "matmul": 128,
    "convs": ((16, 16, 12, 20),),
}


def timed(fn, repeat: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rows(repeat: int, shapes: dict = FULL) -> list[dict]:
    tokens, width, hidden = shapes["tokens"], shapes["width"], shapes["hidden"]
    out: list[dict] = []

    def add(name: str, fn, flops: float, reps: int = repeat, **extra) -> None:  # noqa: ANN001, ANN003
        try:
            with torch.inference_mode():
                t = timed(fn, reps)
        except (RuntimeError, NotImplementedError) as exc:
            out.append({"kernel": name, "error": str(exc).splitlines()[0][:120]})
        else:
            out.append({"kernel": name, "ms": t * 1e3, "gflops": flops / t / 1e9, **extra})
        print(out[-1], flush=True)

    n = shapes["matmul"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    add(f"fp32 matmul {n}^3", lambda: a @ b, 2 * n**3)
    m = min(n, 256)  # emulated half precision is ~100x slower where it is not native: a small product tells the rate
    for dtype in (torch.bfloat16, torch.float16):
        am, bm = a[:m, :m].to(dtype), b[:m, :m].to(dtype)
        add(f"{str(dtype)[6:]} matmul {m}^3", lambda am=am, bm=bm: am @ bm, 2 * m**3, reps=3)
    x = torch.randn(tokens, width)
    w = torch.randn(hidden, width)
    add(f"fp32 linear {tokens}x{width}->{hidden}", lambda: F.linear(x, w), 2 * tokens * width * hidden)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation warnings
        for engine in int8_engines():
            torch.backends.quantized.engine = engine
            q = Int8Linear.from_float(nn.Linear(width, hidden))
            packed = q._packed_params._packed_params
            for reduce_range in (True, False):
                add(
                    f"int8 dynamic linear ({engine}, {7 if reduce_range else 8}-bit activations)",
                    lambda p=packed, r=reduce_range: torch.ops.quantized.linear_dynamic(x, p, r),
                    2 * tokens * width * hidden,
                )
        xi = torch.randint(-127, 127, (-(-tokens // 8) * 8, width), dtype=torch.int8)  # rows: a multiple of 8
        wi = torch.randint(-127, 127, (width, hidden), dtype=torch.int8)
        add("torch._int_mm int8 x int8 -> int32", lambda: torch._int_mm(xi, wi), 2 * xi.shape[0] * width * hidden, 1)

        for name, seqs in (("frame", 2), ("global", 1)):
            t, heads, dim = tokens // seqs, shapes["heads"], shapes["head_dim"]
            qkv = [torch.randn(seqs, heads, t, dim) for _ in range(3)]
            add(f"fp32 SDPA {name} ({seqs} x {t} tokens)", lambda qkv=qkv: F.scaled_dot_product_attention(*qkv),
                4 * seqs * heads * t * t * dim)  # fmt: skip

        torch.backends.quantized.engine = "fbgemm" if "fbgemm" in int8_engines() else torch.backends.quantized.engine
        for cin, cout, h, wd in shapes["convs"]:
            conv = nn.Conv2d(cin, cout, 3, padding=1).eval()
            xc = torch.relu(torch.randn(2, cin, h, wd))
            flops = 2 * 2 * cout * cin * 9 * h * wd
            add(f"fp32 conv3x3 {cin}->{cout} at {h}x{wd}", lambda c=conv, v=xc: c(v), flops, reps=3)
            xcl = xc.contiguous(memory_format=torch.channels_last)
            ccl = nn.Conv2d(cin, cout, 3, padding=1).eval().to(memory_format=torch.channels_last)
            add(f"fp32 conv3x3 {cin}->{cout} at {h}x{wd}, channels_last", lambda c=ccl, v=xcl: c(v), flops, reps=3)
            conv.qconfig = torch.ao.quantization.default_dynamic_qconfig
            try:
                qconv = nnqd.Conv2d.from_float(conv)
            except (RuntimeError, AssertionError, AttributeError) as exc:
                out.append({"kernel": f"int8 dynamic conv3x3 {cin}->{cout}", "error": str(exc)[:120]})
                continue
            with torch.inference_mode():
                ref = conv(xc)
                err = ((qconv(xc) - ref).norm() / ref.norm()).item()
            add(f"int8 dynamic conv3x3 {cin}->{cout} at {h}x{wd} (torch.ao)", lambda c=qconv, v=xc: c(v), flops,
                reps=3, rel_error=err)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="tiny shapes: a check of the script")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_capability().describe()
    print(f"CPU {cpu}, {args.threads} threads, torch {torch.__version__}", flush=True)
    table = rows(args.repeat, QUICK if args.quick else FULL)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"cpu": cpu, "threads": args.threads, "torch": torch.__version__,
                   "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": table}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
