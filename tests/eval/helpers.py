"""Small scenes and models for the evaluation-runner tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_synthetic_scene(root: Path, frames: int = 4, size: int = 64, seed: int = 5) -> Path:
    """A rendered synthetic scene (cameras.json + images + depth) of ``frames`` small frames."""
    from openvggt.data.synth.synthetic import SynthConfig, generate_scene, write_scene

    config = SynthConfig(num_frames=frames, size=size, samples=1, family="object")
    return write_scene(generate_scene(seed, 0, config), root, config)


def tiny_weights(path: Path) -> Path:
    """A random ``vggt-tiny`` model without the track head, saved as safetensors."""
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    return save_model(random_model(VGGTConfig.preset("vggt-tiny").with_heads(track=False)), path)


def downscaled_real_scene(src: Path, dst: Path, ids: list[int], longest: int, noise_frames: int = 0) -> Path:
    """Frames ``ids`` of a cameras.json scene resized to ``longest`` px (K scaled to match), plus
    ``noise_frames`` random-noise images with cameras beside the last frame's (they cannot register)."""
    from PIL import Image

    meta = json.loads((src / "cameras.json").read_text())
    (dst / "images").mkdir(parents=True)
    frames = []
    for k, i in enumerate(ids):
        fr = meta["frames"][i]
        with Image.open(src / fr["file"]) as im:
            s = longest / max(im.size)
            w, h = round(im.width * s), round(im.height * s)
            im.convert("RGB").resize((w, h), Image.BICUBIC).save(dst / "images" / f"{k:04d}.jpg", quality=95)
        sx, sy = w / fr["width"], h / fr["height"]
        K = np.asarray(fr["K"], float)
        # Pixel-centre convention (centre of pixel u at u): u' + 0.5 = s (u + 0.5).
        K = np.array(
            [[K[0, 0] * sx, 0, (K[0, 2] + 0.5) * sx - 0.5], [0, K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5], [0, 0, 1]]
        )
        frames.append(
            {"file": f"images/{k:04d}.jpg", "width": w, "height": h, "K": K.tolist(), "R": fr["R"], "t": fr["t"]}
        )
    rng = np.random.default_rng(0)
    for n in range(noise_frames):
        k = len(ids) + n
        noise = rng.integers(0, 256, (frames[-1]["height"], frames[-1]["width"], 3), dtype=np.uint8)
        Image.fromarray(noise).save(dst / "images" / f"{k:04d}.jpg", quality=95)
        shifted = (np.asarray(frames[len(ids) - 1]["t"], float) + [0.3 * (n + 1), 0.0, 0.0]).tolist()
        frames.append({**frames[len(ids) - 1], "file": f"images/{k:04d}.jpg", "t": shifted})
    (dst / "cameras.json").write_text(json.dumps({"scene": dst.name, "frames": frames}))
    return dst
