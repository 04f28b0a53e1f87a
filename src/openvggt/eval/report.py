"""Write evaluation results: JSON, a markdown table and one PNG figure.

The JSON is ``{"results": [row, ...], "summary": {method: {...}, "meta": {...}}}`` as returned by
:func:`openvggt.eval.runner.evaluate` (non-finite floats written as ``null``). The markdown table
has one line per scene and method plus a mean line per method; the unsigned-translation AUC@30
column (official VGGT convention) appears only when it differs from the signed one somewhere.
The figure shows AUC@30 and AUC@5 per scene (registered frames written on the AUC@30 bars) and
the time per scene in seconds, one colour per method.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

__all__ = ["write_json", "markdown_table", "write_markdown", "plot_results", "run_line"]

_COLUMNS = (  # (row key, header, format)
    ("auc30", "AUC@30", "{:.1f}"),
    ("auc5", "AUC@5", "{:.1f}"),
    ("auc3", "AUC@3", "{:.1f}"),
    ("rra15", "RRA@15", "{:.1f}"),
    ("rta15", "RTA@15", "{:.1f}"),
    ("time_s", "time s", "{:.1f}"),
)
_DENSE_COLUMNS = (
    ("depth_abs_rel", "depth AbsRel", "{:.3f}"),
    ("depth_delta125", "depth δ<1.25", "{:.1f}"),
    ("pc_accuracy", "acc.", "{:.3f}"),
    ("pc_completeness", "comp.", "{:.3f}"),
    ("pc_overall", "overall", "{:.3f}"),
)


def _clean(value):  # noqa: ANN001, ANN202
    """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python values."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(report), indent=1, allow_nan=False) + "\n")
    return path


def _fmt(value, fmt: str) -> str:  # noqa: ANN001
    if isinstance(value, list):
        return " / ".join(_fmt(v, "{:.1f}") for v in value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def _differs(rows: list[dict]) -> bool:
    return any(r.get("auc30_unsigned") is not None and abs(r["auc30_unsigned"] - r["auc30"]) > 1e-9 for r in rows)


def markdown_table(report: dict) -> str:
    """A GitHub markdown table of the rows, then one mean line per method."""
    rows = report["results"]
    columns = list(_COLUMNS)
    if _differs(rows):
        columns.insert(1, ("auc30_unsigned", "AUC@30 unsigned", "{:.1f}"))
    if any("auc30_runs" in r for r in rows):
        columns.insert(1, ("auc30_runs", "AUC@30 of each run", "{}"))
    columns += [c for c in _DENSE_COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    header = ["scene", "method", "registered", *(c[1] for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["scene"], r["method"], f"{r['registered']} of {r['frames']}"]
        cells += [_fmt(r.get(key), fmt) for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    for method, s in report["summary"].items():
        if method == "meta":
            continue
        cells = [f"**mean of {s['scenes']}**", method, f"{s['registered']} of {s['frames']}"]
        for key, _, fmt in columns:
            value = s.get("total_time_s") if key == "time_s" else s.get(f"mean_{key}")
            cells.append(_fmt(value, fmt) + (" total" if key == "time_s" and value is not None else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_line(meta: dict) -> str:
    """One line saying how a report was made: command, machine, date, commit."""
    if not meta:
        return ""
    commit = meta.get("git_commit")
    dirty = meta.get("git_modified") or []
    source = f", commit {commit}" + (f" with {len(dirty)} uncommitted file(s) under src/" if dirty else "")
    return f"`{meta.get('command', '')}` — {meta.get('machine', '')}, {meta.get('date', '')}{source if commit else ''}"


def write_markdown(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = run_line(report["summary"].get("meta", {}))
    path.write_text((line + "\n\n" if line else "") + markdown_table(report))
    return path


def _short_time(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def _short_names(names: list[str]) -> list[str]:
    """Drop a common prefix up to its last ``_`` (``seed1000000_00003_object`` -> ``00003_object``)."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = prefix.rfind("_") + 1
    return [n[cut:] for n in names] if cut > 0 else list(names)


def plot_results(report: dict, out_dir: str | Path, name: str = "eval.png") -> Path:
    """One PNG with AUC@30, AUC@5 and time per scene, a bar per method; returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (recon extra)
    from matplotlib.figure import Figure  # noqa: PLC0415

    rows = report["results"]
    scenes = list(dict.fromkeys(r["scene"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["scene"], r["method"]): r for r in rows}
    width = 0.8 / len(methods)
    per_panel = min(6.0, max(3.5, 0.35 * len(scenes) * len(methods) + 1.0))  # inches
    fig = Figure(figsize=(3 * per_panel, 4.2), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    panels = (("auc30", "AUC@30 (%)"), ("auc5", "AUC@5 (%)"), ("time_s", "time per scene (s)"))
    for ax, (key, title) in zip(axes, panels):
        for k, method in enumerate(methods):
            xs = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(scenes))]
            found = [by.get((s, method)) for s in scenes]
            vals = [r.get(key) if r is not None else None for r in found]
            bars = ax.bar(xs, [v if v is not None else 0.0 for v in vals], width, label=method, color=f"C{k}")
            for bar, r, v in zip(bars, found, vals):
                if r is None or v is None:
                    continue
                label = {"auc30": f"{r['registered']}/{r['frames']}", "time_s": _short_time(v)}.get(key, "")
                x, y = bar.get_x() + bar.get_width() / 2, bar.get_height()
                ax.annotate(label, (x, y), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
        ax.set_title(title)
        ax.set_xticks(range(len(scenes)), _short_names(scenes), rotation=30, ha="right", fontsize=8)
        if key != "time_s":
            ax.set_ylim(0, 110)
        else:
            ax.margins(y=0.12)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(methods), fontsize=9)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / name, dpi=90)
    return out / name
