"""VGGT-1B on one GPU: time and peak memory from 1 to 1,000 frames in bf16, and a check of the 1,000-frame pass.

Run through ``benchmarks/gpu_bench.sh`` (a bare checkout with only torch installed is enough: nothing but torch
and ``openvggt.models`` is imported). Seeded random weights with VGGT-1B shapes (fp32 weights, bf16 autocast, the
camera / depth / point heads in fp32 as in the official model), frames of 336x518, camera + depth + point heads.

Robustness, so that the table is sized to one 10-minute call:
- rows run from few to many frames; an out-of-memory row ends the table;
- before each row the time of the row is predicted from the previous ones (``a*S + b*S^2``); a row that would
  not fit in what is left of ``--budget`` seconds is skipped and says so;
- the JSON is rewritten after every row, so a hard kill (the shell's ``timeout``) still leaves a table.

Last, if time is left, the 100-frame row is run again with the weights cast to bf16 and the heads under the
same autocast (the leanest setting; the official model keeps fp32 weights and fp32 heads).

The check at the largest row compares the one-pass outputs with a *frame-chunked reference*: the same weights,
where every global attention is computed for ``--ref-chunk`` frames of queries at a time against all keys (exact
in real arithmetic, no kernel ever sees the full sequence) and the DPT heads decode one frame at a time. When the
full reference does not fit in the time left, the reference runs the first 5 aggregator layers only and compares
the layer-4 tokens (the first layer the DPT heads read), and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openvggt.models.config import VGGTConfig  # noqa: E402
from openvggt.models.init import random_model  # noqa: E402

# Paper (Wang et al., CVPR 2025), Table 7, VGGT-1B on one H100 with flash attention: the row the issue quotes.
PAPER = {100: {"time_s": 3.12, "mem_gb": 21.15}}
HEADS = ("camera", "depth", "point")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def forward(model, images: torch.Tensor, layers: set[int] | None = None):  # noqa: ANN001, ANN201
    """One forward pass under bf16 autocast; returns (outputs, intermediates)."""
    with torch.inference_mode(), torch.autocast(images.device.type, dtype=torch.bfloat16):
        inter = model.forward_intermediates(images, layers=layers or model.layers_for(HEADS))
        out = model.forward_heads(inter, HEADS)
    return out, inter


@contextlib.contextmanager
def chunked_attention(frames_per_chunk: int, tokens_per_frame: int):  # noqa: ANN201
    """Compute every attention over more than one chunk of frames query-chunk by query-chunk (exact)."""
    original = F.scaled_dot_product_attention
    chunk = frames_per_chunk * tokens_per_frame
    calls = {"chunked": 0}

    def sdpa(q, k, v, attn_mask=None, **kw):  # noqa: ANN001, ANN202, ANN003
        if q.shape[-2] <= chunk or attn_mask is not None:
            return original(q, k, v, attn_mask=attn_mask, **kw)
        calls["chunked"] += 1
        return torch.cat([original(q[..., i : i + chunk, :], k, v, **kw) for i in range(0, q.shape[-2], chunk)], -2)

    import openvggt.layers.attention as attention_module

    attention_module.F.scaled_dot_product_attention = sdpa
    try:
        yield calls
    finally:
        attention_module.F.scaled_dot_product_attention = original


def truncated(model, depth: int):  # noqa: ANN001, ANN201
    """A view of ``model`` whose aggregator stops after ``depth`` layers (weights shared, nothing copied)."""
    agg = copy.copy(model.aggregator)
    agg._modules = dict(model.aggregator._modules)
    dpt = dataclasses.replace(agg.cfg.dpt, intermediate_layer_idx=(depth - 1,) * 4)
    agg.cfg = dataclasses.replace(agg.cfg, depth=depth, dpt=dpt)
    agg.frame_blocks = torch.nn.ModuleList(list(model.aggregator.frame_blocks)[:depth])
    agg.global_blocks = torch.nn.ModuleList(list(model.aggregator.global_blocks)[:depth])
    return agg


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| and the median relative difference, in float32."""
    a, b = a.float(), b.float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def median_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float().flatten(), b.float().flatten()
    idx = torch.randperm(a.numel(), device=a.device, generator=torch.Generator(a.device).manual_seed(0))[:1_000_000]
    return float(((a[idx] - b[idx]).abs() / b[idx].abs().clamp_min(1e-12)).median())


def check(model, images, out, inter, args, left_s: float, main_s: float) -> dict:  # noqa: ANN001
    s = images.shape[1]
    p = inter.tokens[min(inter.tokens)].shape[2]
    result = {"frames": s, "ref_chunk_frames": args.ref_chunk}
    full = left_s > 1.3 * main_s + 20
    start = time.perf_counter()
    with chunked_attention(args.ref_chunk, p) as calls:
        if full:
            chunk_sizes = {h: getattr(model, f"{h}_head").frames_chunk_size for h in ("depth", "point")}
            for h in chunk_sizes:
                getattr(model, f"{h}_head").frames_chunk_size = 1
            try:
                ref, ref_inter = forward(model, images)
            finally:
                for h, v in chunk_sizes.items():
                    getattr(model, f"{h}_head").frames_chunk_size = v
            sync()
            result.update(
                kind="full reference (all 24 layers, heads frame by frame)",
                depth_median_rel=median_rel(out.depth, ref.depth),
                points_median_rel=median_rel(out.world_points, ref.world_points),
                pose_enc_max_rel=rel(out.pose_enc, ref.pose_enc),
                layer23_tokens_max_rel=rel(inter.tokens[23], ref_inter.tokens[23]),
            )
        else:
            agg = truncated(model, 5)
            with torch.inference_mode(), torch.autocast(images.device.type, dtype=torch.bfloat16):
                tokens, _ = agg(images, layers=[4])
            sync()
            result.update(
                kind=f"first 5 layers only (time left {left_s:.0f} s < 1.3 x one pass {main_s:.0f} s)",
                layer4_tokens_max_rel=rel(inter.tokens[4], tokens[4]),
                layer4_tokens_median_rel=median_rel(inter.tokens[4], tokens[4]),
            )
    result["reference_s"] = time.perf_counter() - start
    result["chunked_attention_calls"] = calls["chunked"]  # 24 for the full reference, 5 for the truncated one
    return result


def predict(rows: list[dict], s: int) -> float:
    """Seconds of one pass at ``s`` frames: the last row scaled by ``(s / S_last)^p`` where p is the local exponent
    of the last two rows clamped to [1, 2] (the quadratic attention takes over as S grows), times 1.2 for safety."""
    done = [(r["frames"], r["time_s"]) for r in rows if r.get("ok")]
    if not done:
        return 0.0
    s2, t2 = done[-1]
    p = 1.0
    if len(done) >= 2:
        s1, t1 = done[-2]
        p = min(max(math.log(t2 / t1) / math.log(s2 / s1), 1.0), 2.0)
    return 1.2 * t2 * (s / s2) ** p


def lean_row(model, payload: dict, args: argparse.Namespace, start: float, h: int, w: int) -> None:  # noqa: ANN001
    """Last, if time is left: the 100-frame row again with the weights cast to bf16 and the heads under autocast
    too (the official model runs its heads in fp32), the leanest GPU setting."""
    s = args.lean_frames
    base = next((r for r in payload["rows"] if r["frames"] == s and r.get("ok")), None)
    left = args.budget - (time.perf_counter() - start)
    if base is None or left < 5 * base["time_s"] + 10:
        payload["lean"] = {"frames": s, "ok": False, "error": "not run: no time left or no base row"}
        return
    model.to(torch.bfloat16)  # frees the fp32 weights
    model.heads_fp32 = False
    images = torch.rand(1, s, 3, h, w, device=args.device, generator=torch.Generator(args.device).manual_seed(s))
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    forward(model, images)
    times = []
    for _ in range(3):
        sync()
        t = time.perf_counter()
        forward(model, images)
        sync()
        times.append(time.perf_counter() - t)
    cuda = args.device.startswith("cuda")
    payload["lean"] = {"frames": s, "ok": True, "time_s": sorted(times)[1], "times_s": times,
                       "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else float("nan")}  # fmt: skip
    write(payload, args.out)
    print("lean:", payload["lean"], flush=True)


def write(payload: dict, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(out)


def markdown(payload: dict) -> str:
    lines = [
        f"VGGT `{payload['preset']}` (random weights), {payload['size']} frames, bf16 autocast, "
        f"camera + depth + point heads; {payload['device']}; {payload['date']}.",
        "",
        "| frames | time (s) | peak memory (GB) | paper, H100: time (s) / memory (GB) | memory vs paper |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in payload["rows"]:
        paper = PAPER.get(r["frames"])
        ref = f"{paper['time_s']:.2f} / {paper['mem_gb']:.2f}" if paper else "–"
        if not r.get("ok"):
            lines.append(f"| {r['frames']} | {r.get('error', 'not run')} | | {ref} | |")
            continue
        ratio = f"{r['peak_mem_gb'] / paper['mem_gb']:.0%}" if paper else "–"
        lines.append(f"| {r['frames']} | {r['time_s']:.3f} | {r['peak_mem_gb']:.2f} | {ref} | {ratio} |")
    lean = payload.get("lean")
    if lean and lean.get("ok"):
        paper = PAPER.get(lean["frames"])
        ratio = f" ({lean['peak_mem_gb'] / paper['mem_gb']:.0%} of the paper's memory)" if paper else ""
        lines += ["", f"Leanest setting (weights in bf16, heads under bf16 autocast as well), {lean['frames']} frames: "
                  f"{lean['time_s']:.3f} s, peak {lean['peak_mem_gb']:.2f} GB{ratio}."]  # fmt: skip
    c = payload.get("check")
    if c:
        lines += ["", f"Check at {c['frames']} frames against the frame-chunked reference ({c['kind']}; "
                  f"queries in chunks of {c['ref_chunk_frames']} frames; {c['reference_s']:.0f} s):"]  # fmt: skip
        lines += [f"- {k}: {v:.2e}" for k, v in c.items() if isinstance(v, float) and k != "reference_s"]
        lines.append(f"- global attentions computed in query chunks: {c['chunked_attention_calls']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="1,10,50,100,200,500,1000")
    ap.add_argument("--size", default="336x518")
    ap.add_argument("--budget", type=float, default=520, help="seconds for everything after the model is built")
    ap.add_argument("--ref-chunk", type=int, default=100, help="query frames per chunk in the reference")
    ap.add_argument("--out", type=Path, default=Path("gpu_bench.json"))
    ap.add_argument("--render", type=Path, default=None, help="only write the markdown of this JSON")
    ap.add_argument("--lean-frames", type=int, default=100, help="frames of the bf16-weights row run last [100]")
    ap.add_argument("--preset", default="vggt-1b", help="vggt-tiny + --device cpu: a smoke test of the script")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.render:
        payload = json.loads(args.render.read_text())
        args.render.with_suffix(".md").write_text(markdown(payload))
        print(markdown(payload))
        return
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("gpu_bench.py needs a CUDA GPU (or --device cpu --preset vggt-tiny for a smoke test)")
    torch.backends.cuda.matmul.allow_tf32 = True
    h, w = (int(v) for v in args.size.split("x"))
    frames = sorted(int(f) for f in args.frames.split(","))
    t0 = time.perf_counter()
    model = random_model(VGGTConfig.preset(args.preset).with_heads(track=False), device=args.device, seed=0)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}",
        "preset": args.preset,
        "size": args.size,
        "build_s": time.perf_counter() - t0,
        "rows": [],
    }
    print(f"model built in {payload['build_s']:.0f} s on {payload['device']}", flush=True)
    start = time.perf_counter()
    largest = None
    for s in frames:
        left = args.budget - (time.perf_counter() - start)
        expected = predict(payload["rows"], s)
        repeat = 3 if s <= 100 else 1
        warm = s <= 100
        # The largest row also needs at least the truncated check (~5/24 of a pass).
        needed = expected * (repeat + warm) + (0.3 * expected if s == frames[-1] else 0)
        if payload["rows"] and needed > left:
            error = f"skipped: needs ~{needed:.0f} s, {left:.0f} left"
            payload["rows"].append({"frames": s, "ok": False, "error": error})
            write(payload, args.out)
            print(payload["rows"][-1], flush=True)
            continue
        gen = torch.Generator(args.device).manual_seed(s)
        images = torch.rand(1, s, 3, h, w, device=args.device, generator=gen)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            if warm:
                forward(model, images)
            times = []
            for _ in range(repeat):
                sync()
                t = time.perf_counter()
                out, inter = forward(model, images)
                sync()
                times.append(time.perf_counter() - t)
        except torch.OutOfMemoryError as exc:
            payload["rows"].append({"frames": s, "ok": False, "error": f"out of memory: {str(exc)[:60]}"})
            write(payload, args.out)
            break
        row = {"frames": s, "ok": True, "time_s": sorted(times)[len(times) // 2], "times_s": times,
               "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else float("nan"),
               "peak_reserved_gb": torch.cuda.max_memory_reserved() / 1e9 if cuda else float("nan")}  # fmt: skip
        payload["rows"].append(row)
        write(payload, args.out)
        print(row, flush=True)
        if not math.isfinite(float(out.depth.float().mean())):
            row["warning"] = "non-finite depth"
        largest = (images, out, inter) if s == frames[-1] else None
        if largest is None:
            del images, out, inter
    if largest is not None:
        left = args.budget - (time.perf_counter() - start)
        payload["check"] = check(model, *largest, args, left, payload["rows"][-1]["time_s"])
        write(payload, args.out)
        del largest
    lean_row(model, payload, args, start, h, w)
    args.out.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
