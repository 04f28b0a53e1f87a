"""Query points for ``openvggt track``: reading them from a file and mapping them to model pixels."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openvggt.errors import InputError
from openvggt.io.images import ImageMeta


def parse_queries(path: str | os.PathLike, names: Sequence[str]) -> np.ndarray:
    """``[N, 3]`` (frame index, x, y) from a CSV/whitespace text file or JSON.

    Text: one ``frame x y`` per line (commas or spaces; ``#`` comments; a header line is skipped).
    JSON: a list of ``[frame, x, y]`` or of ``{"frame": ..., "x": ..., "y": ...}``. ``frame`` is an
    index into the inputs or an image name / stem.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such queries file")
    try:
        rows = _query_rows(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read queries ({exc})") from None
    if not rows:
        raise InputError(f"{path}: no queries in this file")
    lookup = {n: i for i, n in enumerate(names)} | {Path(n).stem: i for i, n in enumerate(names)}
    out = []
    for line, (frame, x, y) in enumerate(rows, start=1):
        if isinstance(frame, str) and not frame.lstrip("-").isdigit():
            if frame not in lookup:
                raise InputError(f"{path}: query {line}: no input image named {frame!r}")
            index = lookup[frame]
        else:
            index = int(frame)
            if not 0 <= index < len(names):
                raise InputError(f"{path}: query {line}: frame {index} is not in 0..{len(names) - 1}")
        out.append((index, float(x), float(y)))
    return np.array(out, dtype=np.float64)


def _query_rows(path: Path) -> list[tuple]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        data = data.get("queries", data) if isinstance(data, dict) else data
        return [(d["frame"], d["x"], d["y"]) if isinstance(d, dict) else tuple(d) for d in data]
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        parts = line.split("#", 1)[0].replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"line {i + 1}: expected 'frame x y', got {line.strip()!r}")
        try:
            rows.append((parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            if rows:
                raise ValueError(f"line {i + 1}: x and y must be numbers, got {line.strip()!r}") from None
    return rows


def queries_to_model(queries: np.ndarray, metas: Sequence[ImageMeta], names: Sequence[str]) -> np.ndarray:
    """``[N, 2]`` model pixels of ``queries [N, 3]`` (original pixels); errors for points the model cannot see."""
    out = np.zeros((len(queries), 2))
    for n, (frame, x, y) in enumerate(queries):
        meta = metas[int(frame)]
        w, h = meta.original_size
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            raise InputError(f"query {n + 1}: ({x:g}, {y:g}) is outside {names[int(frame)]} ({w}x{h})")
        mx, my = meta.original_to_model(np.array([x, y]), centered=True)
        left, top, right, bottom = meta.footprint()
        if not (left - 0.5 <= mx < right - 0.5 and top - 0.5 <= my < bottom - 0.5):
            raise InputError(
                f"query {n + 1}: ({x:g}, {y:g}) in {names[int(frame)]} was cropped away by --mode crop; "
                "use --mode pad to keep the whole image"
            )
        out[n] = (mx, my)
    return out
