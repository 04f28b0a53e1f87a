"""Synthetic-engine and sample-pipeline speed on one CPU core.

Each repeat generates ``--scenes`` scenes (default family mix) and times, in CPU seconds of this
single-threaded process (``time.process_time``, so other jobs on a shared machine inflate them
less than wall clock):

* ``render_aa5`` / ``render_aa1``: every camera rendered again through a square 224 x 224 image
  with the same field of view ("frames/s at 224x224"), 5 rays per pixel (the default
  anti-aliasing, with shadows) and 1 ray per pixel;
* ``layout_s``: scene layout, camera path and auto-exposure per scene;
* ``scene_224``: layout plus rendering every frame at 224 x 224, per frame: what on-the-fly
  generation (``SyntheticScenes``) costs with ``--frames`` frames per scene;
* ``generate``: ``generate`` to a temporary folder (layout, render, PNG, npy, cameras.json) at the
  native mix of aspect ratios with longer side ``--size``;
* ``samples_224`` / ``samples_518``: training samples (8 frames) read back from that folder:
  decode, crop/resize, colour augmentation, point maps, normalisation, 256 tracks.

Prints a markdown table with the best and the median over the repeats, then a JSON record.

    OMP_NUM_THREADS=1 python benchmarks/bench_synth.py --scenes 12 --frames 8 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their thread pools

import numpy as np  # noqa: E402
import torch  # noqa: E402

from openvggt.data.synth.render import Camera, render  # noqa: E402
from openvggt.data.synth.synthetic import SynthConfig, generate, generate_scene  # noqa: E402
from openvggt.data.synth.textures import photo_textures  # noqa: E402

LABELS = {
    "render_aa5": "render 224 x 224, 5 rays/px (anti-aliased), shadows [frames/s]",
    "render_aa1": "render 224 x 224, 1 ray/px, shadows [frames/s]",
    "layout_s": "layout + camera path + auto-exposure per scene [s]",
    "scene_224": "on the fly: layout + render at 224 x 224, 5 rays/px [frames/s]",
    "generate": "`generate` to disk (layout, render, PNG, npy), mixed aspect ratios [frames/s]",
    "samples_224": "training samples from disk (8 frames, 256 tracks), width 224 [frames/s]",
    "samples_518": "the same, width 518 [frames/s]",
}


def square_camera(cam: Camera, size: int) -> Camera:
    """The camera with a centred square image of ``size`` px and the same field of view."""
    f = cam.K[0, 0] * size / max(cam.width, cam.height)
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera(K, cam.R, cam.t, size, size)


def _time_samples(folders, width: int) -> float:
    """Frames per CPU second of :class:`SceneDataset` samples (8 frames each) read from ``folders``."""
    from openvggt.data.dataset import SampleIndex, SceneDataset  # noqa: PLC0415
    from openvggt.data.sample import SampleConfig  # noqa: PLC0415

    cfg = SampleConfig(img_size=width, track_num=256, max_frames=8)
    ds = SceneDataset(folders, cfg)
    frames, t0 = 0, time.process_time()
    for k in range(2 * len(folders)):
        sample = ds[SampleIndex(k % len(folders), 8, cfg.heights[len(cfg.heights) // 2], k)]
        frames += sample["images"].shape[0]
    return frames / (time.process_time() - t0)


def one_repeat(seed: int, scenes: int, frames: int, size: int) -> tuple[dict[str, float], dict[str, int]]:
    """All measurements once, on scenes ``0 .. scenes-1`` of ``seed``; returns (rates, families)."""
    layout, render_s, families, frame_ms = [], {1: 0.0, 5: 0.0}, {}, []
    for i in range(scenes):
        t0 = time.process_time()
        scene = generate_scene(seed, i, SynthConfig(num_frames=frames, size=size))
        layout.append(time.process_time() - t0)
        families[scene.family] = families.get(scene.family, 0) + 1
        for samples in (5, 1):
            for cam, photo in zip(scene.cameras, scene.photometric):
                t0 = time.process_time()
                render(scene.geometry, square_camera(cam, 224), photo, samples)
                render_s[samples] += time.process_time() - t0
                if samples == 5:
                    frame_ms.append(1000 * (time.process_time() - t0))
    n = scenes * frames
    rates = {
        "render_aa5": n / render_s[5],
        "render_aa1": n / render_s[1],
        "layout_s": statistics.mean(layout),
        "scene_224": n / (render_s[5] + sum(layout)),
        "frame_ms_median": statistics.median(frame_ms),
        "frame_ms_max": max(frame_ms),
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        folders = generate(tmp, scenes, seed + 1, SynthConfig(num_frames=frames, size=size))
        rates["generate"] = n / (time.process_time() - t0)
        rates["samples_224"] = _time_samples(folders, 224)
        rates["samples_518"] = _time_samples(folders, 518)
    return rates, families


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores visible, 1 thread used"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="longer side for `generate` (default 224)")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    photo_textures()  # one-off per process (about 1 s), not part of the per-frame cost

    runs, families = [], {}
    wall0, load0 = time.perf_counter(), os.getloadavg()[0]
    for r in range(args.repeat):
        rates, families = one_repeat(args.seed, args.scenes, args.frames, args.size)
        runs.append(rates)
        print(f"repeat {r + 1}/{args.repeat}: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()), flush=True)
    lower_is_better = {"layout_s", "frame_ms_median", "frame_ms_max"}
    summary = {}
    for key in runs[0]:
        values = [run[key] for run in runs]
        best = min(values) if key in lower_is_better else max(values)
        summary[key] = {"best": best, "median": statistics.median(values), "all": values}

    print(f"\n| measurement (one core, CPU time) | best of {args.repeat} | median of {args.repeat} |\n|---|---|---|")
    for key, label in LABELS.items():
        print(f"| {label} | {summary[key]['best']:.2f} | {summary[key]['median']:.2f} |")
    print(
        f"| per-frame render time, 5 rays/px [ms] (median / slowest frame) | "
        f"{summary['frame_ms_median']['best']:.0f} / {summary['frame_ms_max']['best']:.0f} | "
        f"{summary['frame_ms_median']['median']:.0f} / {summary['frame_ms_max']['median']:.0f} |"
    )
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _machine(),
        "load_average_before": load0,
        "load_average_after": os.getloadavg()[0],
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "args": vars(args),
        "families": families,
        "summary": summary,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
