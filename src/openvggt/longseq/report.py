"""The long-sequence report: trajectory before and after loop closure (a matplotlib PNG) and the tables."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np


def trajectory_png(centres: dict[str, np.ndarray], loops: list[tuple[int, int]] = ()) -> bytes:
    """A top view (the two axes of largest spread) of camera centres ``{label: [S, 3]}``, revisits as lines."""
    from matplotlib.figure import Figure  # here: ~1 s to import, only reports need it

    ref = next(iter(centres.values()))
    _, _, vt = np.linalg.svd(ref - ref.mean(0), full_matrices=False)
    # A bare Figure (no pyplot): no global backend switch in the caller's process, safe in service threads.
    fig = Figure(figsize=(6, 5), dpi=100)
    ax = fig.subplots()
    for label, c in centres.items():
        xy = (c - ref.mean(0)) @ vt[:2].T
        ax.plot(xy[:, 0], xy[:, 1], lw=1.2, label=label)
        ax.scatter(xy[:1, 0], xy[:1, 1], s=20, marker="o")
    last = (list(centres.values())[-1] - ref.mean(0)) @ vt[:2].T
    for i, j in loops:
        ax.plot(last[[i, j], 0], last[[i, j], 1], "k:", lw=0.8)
    ax.set_aspect("equal")
    ax.legend(fontsize=8)
    ax.set_title("camera centres (top view)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v:.4g}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>" for v in r.values()
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(path: Path, summary: dict, png: bytes, chunk_rows: list[dict], loop_rows: list[dict]) -> Path:
    """A self-contained HTML page."""
    img = base64.b64encode(png).decode()
    metrics = summary.get("reference")
    parts = [
        "<!doctype html><meta charset=utf-8><title>openvggt long sequence</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}</style>",
        f"<h1>{summary['frames']} frames in {summary['chunks']} chunks</h1>",
        f"<p>chunk {summary['chunk']}, overlap {summary['overlap']}, loop closure: {summary['loop_closure']}, "
        f"token merging ratio {summary['merge_tokens']}, weights {html.escape(str(summary['weights']))}</p>",
        f'<img src="data:image/png;base64,{img}" alt="trajectory">',
        "<h2>reference metrics</h2>"
        + (f"<pre>{html.escape(json.dumps(metrics, indent=1))}</pre>" if metrics else "<p>no reference given</p>"),
        "<h2>loop closures</h2>" + _table(loop_rows),
        "<h2>chunks</h2>" + _table(chunk_rows),
        "<h2>timings (s)</h2>" + _table([{k: round(v, 2) for k, v in summary["timings_s"].items()}]),
    ]
    path.write_text("\n".join(parts))
    return path
