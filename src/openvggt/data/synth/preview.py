"""Contact sheets of synthetic scenes (image over depth, one row per scene) for looking at the data.

python -m openvggt.data.synth.preview docs/synthetic_contact_sheet.png --seed 0 --scenes 8 --frames 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from openvggt.data.synth.synthetic import SynthConfig, generate_scene

# A perceptual-ish palette for inverse depth (near = warm, far = dark blue); sky stays black.
_PALETTE = np.array(
    [[0.05, 0.03, 0.25], [0.1, 0.3, 0.8], [0.1, 0.75, 0.75], [0.55, 0.9, 0.3], [0.98, 0.75, 0.15], [0.85, 0.2, 0.05]]
)


def colour_depth(depth: np.ndarray) -> np.ndarray:
    """``[H, W]`` depth (0 = invalid) -> ``[H, W, 3]`` uint8, inverse depth scaled per image."""
    out = np.zeros(depth.shape + (3,), np.uint8)
    valid = depth > 0
    if not valid.any():
        return out
    inv = 1 / depth[valid]
    lo, hi = np.percentile(inv, [1, 99])
    x = np.clip((inv - lo) / max(hi - lo, 1e-12), 0, 1) * (len(_PALETTE) - 1)
    i = np.minimum(x.astype(int), len(_PALETTE) - 2)
    f = (x - i)[:, None]
    out[valid] = np.round(255 * (_PALETTE[i] * (1 - f) + _PALETTE[i + 1] * f)).astype(np.uint8)
    return out


def contact_sheet(rows: list[list[tuple[np.ndarray, np.ndarray]]], cell: int = 192, gap: int = 4) -> np.ndarray:
    """``rows[r][c] = (image [H, W, 3] uint8, depth [H, W])`` -> one ``uint8`` sheet with each frame
    (letterboxed into ``cell x cell``) above its colour-coded depth."""
    from PIL import Image  # noqa: PLC0415

    def fit(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        s = cell / max(h, w)
        im = Image.fromarray(a).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
        box = np.full((cell, cell, 3), 255, np.uint8)
        y, x = (cell - im.height) // 2, (cell - im.width) // 2
        box[y : y + im.height, x : x + im.width] = np.asarray(im)
        return box

    n_cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (2 * cell + 2 * gap), n_cols * (cell + gap), 3), 255, np.uint8)
    for r, frames in enumerate(rows):
        for c, (image, depth) in enumerate(frames):
            y, x = r * (2 * cell + 2 * gap), c * (cell + gap)
            sheet[y : y + cell, x : x + cell] = fit(image)
            sheet[y + cell + gap // 2 : y + 2 * cell + gap // 2, x : x + cell] = fit(colour_depth(depth))
    return sheet


def main(argv: list[str] | None = None) -> int:
    from PIL import Image  # noqa: PLC0415

    p = argparse.ArgumentParser(prog="python -m openvggt.data.synth.preview", description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes", type=int, default=8)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--frames", type=int, default=4, help="frames shown per scene (spread over --length)")
    p.add_argument("--length", type=int, default=12, help="frames in each generated scene")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--family", default=None)
    args = p.parse_args(argv)
    rows = []
    for i in range(args.start, args.start + args.scenes):
        scene = generate_scene(args.seed, i, SynthConfig(num_frames=args.length, size=args.size, family=args.family))
        ids = np.linspace(0, scene.num_frames - 1, args.frames).round().astype(int)
        rows.append([scene.render(int(j)) for j in ids])
    Image.fromarray(contact_sheet(rows)).save(args.out, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
