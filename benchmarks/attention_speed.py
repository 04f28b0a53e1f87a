"""Attention kernels at VGGT-1B shapes (2 frames of 294x518: frame attention 2 x 782 tokens, global 1 x 1,564;
16 heads of 64): fused SDPA in fp32 and bf16 against a query-blocked explicit softmax(q k^T) v in bf16.

    python benchmarks/attention_speed.py [--threads 2] [--repeat 5]

Per kernel: warm time of one call, GFLOP/s (4 T^2 d per head), the time for the 24 layers of that kind, and the
largest error against a float64 SDPA relative to the output's largest magnitude.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {"frame": (2, 782), "global": (1, 1564)}  # (sequences, tokens)
HEADS, HEAD_DIM, LAYERS = 16, 64, 24


def blocked_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block: int = 256) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, ``block`` queries at a time, the softmax in fp32."""
    out = torch.empty_like(q)
    kt = k.transpose(-2, -1) * q.shape[-1] ** -0.5
    for s in range(0, q.shape[-2], block):
        scores = q[..., s : s + block, :] @ kt  # [N, h, block, T]
        out[..., s : s + block, :] = scores.float().softmax(-1).to(q.dtype) @ v
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"CPU capability {cap}, {args.threads} threads, torch {torch.__version__}")
    print("| attention | kernel | ms per call | GFLOP/s | 24 layers (s) | rel. error |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (n, t) in SHAPES.items():
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(n, HEADS, t, HEAD_DIM, generator=g) for _ in range(3))
        ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
        low = tuple(x.bfloat16() for x in (q, k, v))
        flops = 4 * n * HEADS * t * t * HEAD_DIM
        for label, fn, inputs in (
            ("SDPA fp32", F.scaled_dot_product_attention, (q, k, v)),
            ("SDPA bf16", F.scaled_dot_product_attention, low),
            ("blocked math bf16", blocked_math, low),
        ):
            out = fn(*inputs)
            start = time.perf_counter()
            for _ in range(args.repeat):
                fn(*inputs)
            sec = (time.perf_counter() - start) / args.repeat
            err = float((out.double() - ref).abs().max() / ref.abs().max())
            print(f"| {name} | {label} | {sec * 1e3:.1f} | {flops / sec / 1e9:.0f} | {LAYERS * sec:.2f} | {err:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
