"""Synthetic-engine speed on one CPU core.

Renders every frame of a few generated scenes again through a square 224 x 224 camera with the
same field of view (so the number is "frames/s at 224x224"), with 5 rays per pixel (the default
anti-aliasing) and with 1, and times scene layout (cameras included) and the full write path
(``generate``: render + PNG + npy + cameras.json) at the native mix of aspect ratios.

    OMP_NUM_THREADS=1 python benchmarks/bench_synth.py --scenes 8 --frames 8

Times are CPU seconds of this (single-threaded) process (``time.process_time``), so other jobs on a
shared machine do not inflate them; the wall-clock figures are printed beside them.
Prints a markdown table row per measurement and a JSON summary.
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

from openvggt.data.render import Camera, render  # noqa: E402
from openvggt.data.synthetic import SynthConfig, generate, generate_scene  # noqa: E402
from openvggt.data.textures import photo_textures  # noqa: E402


def square_camera(cam: Camera, size: int) -> Camera:
    """The camera with a centred square image of ``size`` px and the same field of view."""
    f = cam.K[0, 0] * size / max(cam.width, cam.height)
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera(K, cam.R, cam.t, size, size)


def _time_samples(folders, size: int) -> dict[int, float]:
    """Frames per CPU second of :class:`SceneDataset` samples (8 frames each) read from ``folders``."""
    from openvggt.data.dataset import SampleIndex, SceneDataset  # noqa: PLC0415
    from openvggt.data.sample import SampleConfig  # noqa: PLC0415

    out = {}
    for width in (224, 518):
        cfg = SampleConfig(img_size=width, track_num=256, max_frames=8)
        ds = SceneDataset(folders, cfg)
        frames, t0 = 0, time.process_time()
        for k in range(2 * len(folders)):
            sample = ds[SampleIndex(k % len(folders), 8, cfg.heights[len(cfg.heights) // 2], k)]
            frames += sample["images"].shape[0]
        out[width] = frames / (time.process_time() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    torch.set_num_threads(1)
    photo_textures()  # one-off per process (about 1 s), not part of the per-frame cost

    layout_s, frame_s, frame_wall = [], {1: [], 5: []}, []
    families = {}
    for i in range(args.scenes):
        t0 = time.process_time()
        scene = generate_scene(args.seed, i, SynthConfig(num_frames=args.frames, size=args.size))
        layout_s.append(time.process_time() - t0)
        families[scene.family] = families.get(scene.family, 0) + 1
        for samples in (5, 1):
            for cam, photo in zip(scene.cameras, scene.photometric):
                t0, w0 = time.process_time(), time.perf_counter()
                render(scene.geometry, square_camera(cam, args.size), photo, samples)
                frame_s[samples].append(time.process_time() - t0)
                if samples == 5:
                    frame_wall.append(time.perf_counter() - w0)

    with tempfile.TemporaryDirectory() as tmp:
        t0, w0 = time.process_time(), time.perf_counter()
        folders = generate(tmp, args.scenes, args.seed + 1, SynthConfig(num_frames=args.frames, size=args.size))
        write_total, write_wall = time.process_time() - t0, time.perf_counter() - w0
        sample_s = _time_samples(folders, args.size)

    n = args.scenes * args.frames
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread used",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scenes": args.scenes,
        "frames_per_scene": args.frames,
        "families": families,
        "fps_224_aa5": 1 / statistics.mean(frame_s[5]),
        "fps_224_aa5_wall": 1 / statistics.mean(frame_wall),
        "fps_224_aa1": 1 / statistics.mean(frame_s[1]),
        "frame_ms_224_aa5_median": 1000 * statistics.median(frame_s[5]),
        "frame_ms_224_aa5_max": 1000 * max(frame_s[5]),
        "layout_s_per_scene": statistics.mean(layout_s),
        "generate_fps_end_to_end": n / write_total,
        "generate_fps_end_to_end_wall": n / write_wall,
        "samples_frames_per_s": sample_s,
    }
    print("| measurement | value |\n|---|---|")
    print(
        f"| render 224x224, 5 rays/px (AA) | {result['fps_224_aa5']:.1f} frames/s "
        f"(median {result['frame_ms_224_aa5_median']:.0f} ms, max {result['frame_ms_224_aa5_max']:.0f} ms; "
        f"wall clock {result['fps_224_aa5_wall']:.1f} frames/s) |"
    )
    print(f"| render 224x224, 1 ray/px | {result['fps_224_aa1']:.1f} frames/s |")
    print(f"| layout + camera path per scene ({args.frames} frames) | {result['layout_s_per_scene']:.2f} s |")
    print(
        f"| `generate` end to end (layout, render, PNG, npy), longer side {args.size} | "
        f"{result['generate_fps_end_to_end']:.1f} frames/s (wall {result['generate_fps_end_to_end_wall']:.1f}) |"
    )
    for size, fps in sample_s.items():
        print(
            f"| training samples from disk (read, crop/resize, augment, points, 256 tracks), width {size} | "
            f"{fps:.0f} frames/s |"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
