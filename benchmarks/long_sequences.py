"""Long sequences: peak memory and time against frame count, accuracy of the variants, one-pass capacity.

Every measurement runs in a fresh child process (peak RSS = the child's ``ru_maxrss``), single command each:

    # flat memory / linear time: 100, 500, 1000, 2000 synthetic frames, chunked, the default model
    python benchmarks/long_sequences.py scaling --frames 100,500,1000,2000 --threads 2 --json scaling.json
    # accuracy: one pass (where it fits) vs chunked, +/- loop closure, +/- token merging
    python benchmarks/long_sequences.py accuracy --frames 300 --threads 2 --json accuracy.json
    python benchmarks/long_sequences.py accuracy --sequence ../shared/sequences/7scenes-redkitchen --threads 2
    # optional, slow: the largest one-pass frame count of vggt-1b (random weights) in 24 GB, bf16
    python benchmarks/long_sequences.py onepass --preset vggt-1b --dtype bf16 --max-gb 24 --threads 2

``run`` is the child: one reconstruction, one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = ("ate_rmse", "rpe_trans", "rpe_rot_deg", "auc30", "abs_rel", "abs_rel_per_frame_median")


# glibc's default reuses freed heap and raises its mmap threshold as large blocks are freed, so a process's RSS can
# stay flat while its live tensors grow by hundreds of MB. With a fixed 64 KiB threshold every tensor of any size
# is mapped on allocation and unmapped on free: the RSS then follows the live bytes (the onepass measurement).
EXACT_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def _child(args: list[str], threads: int, env_extra: dict | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT / "src"), **(env_extra or {}))
    proc = subprocess.run(
        [sys.executable, __file__, *args, "--threads", str(threads)], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_one(a: argparse.Namespace) -> dict:
    """One chunked (or one-pass) reconstruction of a synthetic or real sequence, with its metrics."""
    import torch

    torch.set_num_threads(a.threads)
    from openvggt.longseq.sequences import scene_sequence, synthetic_sequence
    from openvggt.pipeline.chunked import ChunkedOptions, reconstruct_chunked

    start = time.perf_counter()
    if a.sequence:
        from openvggt.data.readers import read_scene

        source, gt = scene_sequence(read_scene(a.sequence))
        if a.frames:
            from openvggt.longseq.sequences import GroundTruth
            from openvggt.longseq.source import ImageFilesSource

            step = max(1, len(source) // a.frames)
            ids = list(range(0, len(source), step))[: a.frames]
            source = ImageFilesSource([source.paths[i] for i in ids])
            gt = GroundTruth(gt.extrinsics[ids], gt.intrinsics[ids], gt.sizes[ids], lambda i, d=gt.depth: d(ids[i]))
    else:
        source, gt = synthetic_sequence(a.frames, seed=a.seed, size=a.size)
    setup = time.perf_counter() - start
    chunk = a.chunk if a.chunk else len(source)
    options = ChunkedOptions(
        chunk=chunk, overlap=a.overlap, loop_closure=a.loop_closure, merge_tokens=a.merge, dtype=a.dtype
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rec"
        result = reconstruct_chunked(
            None, out, weights=a.weights, options=options, source=source, gt=gt, copy_images=not a.no_images
        )
        registered = None
        try:
            import pycolmap

            registered = pycolmap.Reconstruction(str(out / "sparse" / "0")).num_reg_images()
        except ImportError:
            pass
    ref = result.summary["reference"] or {}
    return {
        "frames": len(source),
        "chunk": result.summary["chunk"],
        "chunks": result.summary["chunks"],
        "loop_closure": a.loop_closure,
        "merge_tokens": a.merge,
        "wall_s": round(time.perf_counter() - start, 2),
        "setup_s": round(setup, 2),
        "chunks_s": result.summary["timings_s"].get("chunks"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "colmap_registered": registered,
        "loops": len(result.summary["loops"]),
        **{
            k: ref.get(k)
            for k in ("ate_rmse", "rpe_trans", "rpe_rot_deg", "auc30", "abs_rel", "abs_rel_per_frame_median")
        },
        "ate_before_loops": (ref.get("before_loop_closure") or {}).get("ate_rmse"),
    }


def _table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(lines)


def scaling(a: argparse.Namespace) -> list[dict]:
    rows = []
    for n in [int(x) for x in a.frames.split(",")]:
        row = _child(
            ["run", "--frames", str(n), "--chunk", str(a.chunk), "--overlap", str(a.overlap), "--no-images"]
            + (["--merge", str(a.merge)] if a.merge else []),
            a.threads,
        )
        rows.append(row)
        print(_table([row]), file=sys.stderr)
    base = rows[0]["peak_rss_mb"]
    for r in rows:
        r["rss_vs_first"] = round(r["peak_rss_mb"] / base, 3)
        r["s_per_frame"] = round(r["chunks_s"] / r["frames"], 4)
    return rows


def accuracy(a: argparse.Namespace) -> list[dict]:
    common = ["--frames", str(a.frames)] + (["--sequence", a.sequence] if a.sequence else [])
    variants = [
        ("one pass", ["--chunk", "0"]),
        (f"one pass + merge {a.merge}", ["--chunk", "0", "--merge", str(a.merge)]),
        ("chunked", []),
        ("chunked + loops", ["--loop-closure"]),
        (f"chunked + merge {a.merge}", ["--merge", str(a.merge)]),
        (f"chunked + loops + merge {a.merge}", ["--loop-closure", "--merge", str(a.merge)]),
    ]
    rows = []
    for name, extra in variants:
        one_pass = name.startswith("one pass")
        if one_pass and a.frames > a.one_pass_max:
            continue
        chunking = [] if one_pass else ["--chunk", str(a.chunk), "--overlap", str(a.overlap)]
        row = {"variant": name, **_child(["run", *common, *chunking, *extra, "--no-images"], a.threads)}
        rows.append(row)
        print(_table([row]), file=sys.stderr)
    return rows


def _forward_args(a: argparse.Namespace, frames: int) -> list[str]:
    return [
        "forward",
        "--device",
        a.device,
        "--preset",
        a.preset,
        "--dtype",
        a.dtype,
        "--frames",
        str(frames),
        "--height",
        str(a.height),
        "--width",
        str(a.width),
    ]


def onepass(a: argparse.Namespace) -> list[dict]:
    """Peak RSS of one forward pass (camera + depth heads) at a few frame counts, the linear fit, the largest
    frame count under ``--max-gb``, and a check run at that count."""
    rows = []
    for s in [int(x) for x in a.probe.split(",")]:
        rows.append(_child(_forward_args(a, s), a.threads, EXACT_MALLOC))
        print(rows[-1], file=sys.stderr)
    import numpy as np

    s = np.array([r["frames"] for r in rows], float)
    fit: dict = {}
    largest = None
    # One line per stage where the rows have them (the aggregator's peak grows faster than the heads' but starts
    # lower), the largest count is where the first line reaches the budget.
    keys = ["aggregator_peak_mb", "heads_peak_mb"] if all("heads_peak_mb" in r for r in rows) else ["peak_rss_mb"]
    for key in keys:
        m = np.array([r[key] for r in rows], float)
        slope, intercept = np.polyfit(s, m, 1)
        name = key.removesuffix("_mb").removesuffix("_peak").removesuffix("_rss")
        fit[f"{name}_mb_per_frame"] = round(float(slope), 2)
        fit[f"{name}_base_mb"] = round(float(intercept), 1)
        count = int((a.max_gb * 1e9 / 2**20 - intercept) // slope)
        largest = count if largest is None else min(largest, count)
        if len(rows) >= 3:  # check the line on a count it was not fitted to: the largest probe from the others
            s1, i1 = np.polyfit(s[:-1], m[:-1], 1)
            fit[f"{name}_held_out"] = {
                "frames": int(s[-1]),
                "predicted_mb": round(float(s1 * s[-1] + i1), 1),
                "measured_mb": float(m[-1]),
            }
    fit["max_gb"] = a.max_gb
    fit["predicted_largest"] = largest
    print(fit, file=sys.stderr)
    if a.verify:
        rows.append(_child(_forward_args(a, largest), a.threads, EXACT_MALLOC))
    return rows + [fit]


class _StagePeak:
    """Peak resident memory of this process while the ``with`` block runs.

    On Linux exact: the kernel's high-water mark (``VmHWM``) is reset on entry (``/proc/self/clear_refs``) and
    read on exit. Elsewhere sampled every 20 ms (can miss short peaks).
    """

    def __enter__(self):  # noqa: ANN204
        import threading

        import psutil

        self.peak, self._stop, proc = 0, threading.Event(), psutil.Process()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._exact = True
            return self
        except OSError:
            self._exact = False

        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, proc.memory_info().rss)
                self._stop.wait(0.02)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self._exact:
            line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
            self.peak = int(line.split()[1]) * 1024
            return
        self._stop.set()
        self._thread.join()


def _measured(fn, peaks: dict, name: str):  # noqa: ANN001, ANN202
    """``fn`` with its call's peak RSS recorded in ``peaks[name]``."""

    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with _StagePeak() as stage:
            result = fn(*args, **kwargs)
        peaks[name] = stage.peak
        return result

    return run


def _release_free_heap() -> None:
    """Give the allocator's free pages back to the OS (glibc ``malloc_trim``), so that the RSS measured next is
    what the forward pass itself needs and not what it finds left over from building the model."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the measurement is then an underestimate at small counts
        pass


def forward_one(a: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(a.threads)
    from openvggt import Predictor
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model
    from openvggt.runtime import load_dtype

    model = random_model(VGGTConfig.preset(a.preset).with_heads(point=False, track=False))
    if a.device == "cuda":  # weights in the compute dtype on the GPU (what one would deploy)
        model = model.to(dict(bf16=torch.bfloat16, fp16=torch.float16).get(a.dtype, torch.float32))
    else:  # the dtype Predictor(weights, dtype=...) loads into on the CPU: bf16 weights for bf16, no fp32 copy
        model = model.to(load_dtype("cpu", a.dtype))
    predictor = Predictor(model=model, device=a.device, dtype=a.dtype)
    images = torch.rand(a.frames, 3, a.height, a.width)
    _release_free_heap()  # building in fp32 and casting leaves GBs of freed heap that a forward would reuse
    # The two stages peak differently: the aggregator with one block's temporaries for all frames, the heads with
    # the kept layers plus a DPT chunk's working set. Each is linear in the frame count with its own slope.
    peaks: dict[str, int] = {}
    model.forward_intermediates = _measured(model.forward_intermediates, peaks, "aggregator")
    model.forward_heads = _measured(model.forward_heads, peaks, "heads")
    start = time.perf_counter()
    with _StagePeak() as whole:
        out = predictor(images, heads=("camera", "depth"))
    row = {
        "frames": a.frames,
        "preset": a.preset,
        "dtype": a.dtype,
        "device": a.device,
        "wall_s": round(time.perf_counter() - start, 1),
        "finite": bool(torch.isfinite(out.depth).all() and torch.isfinite(out.pose_enc).all()),
        "peak_rss_mb": round(max(whole.peak, *peaks.values()) / 2**20, 1),
        "aggregator_peak_mb": round(peaks["aggregator"] / 2**20, 1),
        "heads_peak_mb": round(peaks["heads"] / 2**20, 1),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if a.device == "cuda":  # the GPU's peak replaces RSS as the quantity that limits the frame count
        row["peak_rss_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("scaling", "accuracy", "run"):
        q = sub.add_parser(name)
        q.add_argument("--frames", default="300" if name != "scaling" else "100,500,1000,2000")
        q.add_argument("--chunk", type=int, default=32)
        q.add_argument("--overlap", type=int, default=8)
        q.add_argument("--merge", type=float, default=0.0)
        q.add_argument("--threads", type=int, default=2)
        q.add_argument("--json", default=None)
        q.add_argument("--sequence", default=None, help="a scene folder with cameras.json (e.g. 7scenes-redkitchen)")
        q.add_argument("--loop-closure", action="store_true")
        q.add_argument("--weights", default="default")
        q.add_argument("--dtype", default="fp32")
        q.add_argument("--size", type=int, default=168)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--no-images", action="store_true")
        q.add_argument("--one-pass-max", type=int, default=400, help="skip the one-pass variant above this")
    q = sub.add_parser("onepass")
    f = sub.add_parser("forward")
    for q_ in (q, f):
        q_.add_argument("--preset", default="vggt-1b")
        q_.add_argument("--dtype", default="bf16")
        q_.add_argument("--height", type=int, default=336)
        q_.add_argument("--width", type=int, default=518)
        q_.add_argument("--threads", type=int, default=2)
        q_.add_argument("--device", default="cpu", help="cpu or cuda (peak = torch.cuda.max_memory_allocated)")
        q_.add_argument("--json", default=None)
    q.add_argument("--max-gb", type=float, default=24.0)
    q.add_argument("--probe", default="2,4,8")
    q.add_argument("--verify", action="store_true", help="also run the predicted largest count (slow)")
    f.add_argument("--frames", type=int, default=2)
    a = p.parse_args()
    if a.cmd in ("run", "accuracy") and isinstance(a.frames, str):
        a.frames = int(a.frames) if a.frames else 0
    if a.cmd == "run":
        print(json.dumps(run_one(a)))
        return
    if a.cmd == "forward":
        print(json.dumps(forward_one(a)))
        return
    rows = {"scaling": scaling, "accuracy": accuracy, "onepass": onepass}[a.cmd](a)
    printable = [r for r in rows if "frames" in r]
    print(_table(printable))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
