"""``report.html``: one self-contained page (images embedded) summarising a reconstruction.

Sections: headline numbers, camera trajectory (top view and side view, matplotlib), per-image
thumbnail / depth / confidence, bundle adjustment and reference scores, settings, timings, files.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from openvggt.geometry import camera_centers
from openvggt.models.pretrained import DEFAULT_MODEL_CAVEAT, is_default_weights
from openvggt.viz.web import viewer_section

MAX_FRAMES_SHOWN = 60
THUMB_WIDTH = 240

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d232b;color:#fff;padding:22px 32px}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;color:#b8c1cc;font-size:14px}
.caveat{background:#fff4d6;border-left:4px solid #e0a100;padding:10px 14px;border-radius:4px;font-size:14px}
main{padding:20px 32px;max-width:1400px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 18px;box-shadow:0 1px 3px #0002;min-width:130px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#5b6673;text-transform:uppercase}
section{background:#fff;border-radius:8px;padding:14px 20px;margin-bottom:18px;box-shadow:0 1px 3px #0002}
h2{font-size:17px;margin:4px 0 12px}table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 12px 3px 0;text-align:left;vertical-align:top}th{color:#5b6673;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(%dpx,1fr));gap:14px}
.frame{font-size:12px;color:#3b4550}.frame img{width:100%%;display:block;border-radius:4px;margin-bottom:3px}
.frame .name{font-weight:600;word-break:break-all}.bar{background:#4c8bf5;height:10px;border-radius:3px}
.note{color:#5b6673;font-size:13px}code{background:#eef0f3;padding:1px 4px;border-radius:3px}
""" % (3 * THUMB_WIDTH // 4 + 12)  # noqa: UP031 - the CSS is full of braces


def _data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _colour_map(values: np.ndarray, mask: np.ndarray, cmap: str, lo_hi: tuple[float, float]) -> Image.Image:
    import matplotlib

    lo, hi = lo_hi
    norm = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    rgb = (matplotlib.colormaps[cmap](np.nan_to_num(norm))[..., :3] * 255).astype(np.uint8)
    rgb[~mask] = 255
    return Image.fromarray(rgb)


def _thumb(image: Image.Image) -> Image.Image:
    h = max(1, round(image.height * THUMB_WIDTH / image.width))
    return image.resize((THUMB_WIDTH, h), Image.Resampling.BILINEAR)


def _shown(count: int) -> list[int]:
    if count <= MAX_FRAMES_SHOWN:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, MAX_FRAMES_SHOWN)})


def _frames_html(rec) -> str:  # noqa: ANN001
    """Thumbnail, inverse-depth and confidence maps per shown frame."""
    mask_all = rec.valid & (rec.depth > 0)
    inv = np.where(mask_all, 1.0 / np.maximum(rec.depth, 1e-12), np.nan)
    inv_range = tuple(np.nanpercentile(inv, [2, 98])) if mask_all.any() else (0.0, 1.0)
    logc = np.log(np.maximum(rec.depth_conf, 1e-6))
    conf_range = tuple(np.percentile(logc[rec.valid], [2, 98])) if rec.valid.any() else (0.0, 1.0)
    cells = []
    for i in _shown(len(rec.names)):
        left, top, right, bottom = rec.metas[i].footprint()
        crop = np.s_[top:bottom, left:right]
        photo = _thumb(Image.fromarray(rec.images[i][crop]))
        depth = _thumb(_colour_map(inv[i][crop], mask_all[i][crop], "turbo", inv_range))
        conf = _thumb(_colour_map(logc[i][crop], rec.valid[i][crop], "magma", conf_range))
        k = rec.intrinsics[i]
        w, h = rec.sizes[i]
        cells.append(
            f'<div class="frame"><div class="name">{i}: {html.escape(rec.names[i])}</div>'
            f'<img src="{_data_uri(photo, "JPEG")}" alt="image"><img src="{_data_uri(depth, "JPEG")}" alt="depth">'
            f'<img src="{_data_uri(conf, "JPEG")}" alt="confidence">{w}x{h}, f = {k[0, 0]:.0f} / {k[1, 1]:.0f} px</div>'
        )
    note = ""
    if len(rec.names) > MAX_FRAMES_SHOWN:
        note = f'<p class="note">{MAX_FRAMES_SHOWN} of {len(rec.names)} frames shown, evenly spaced.</p>'
    return (
        "<section><h2>Images, depth and confidence</h2>"
        '<p class="note">Per image: the model input, inverse depth (near = red), and log confidence '
        "(bright = confident).</p>" + note + f'<div class="grid">{"".join(cells)}</div></section>'
    )


def trajectory_png(rec) -> str:  # noqa: ANN001
    """A data URI of the camera centres and viewing directions seen from above (x-z) and the side (z-y)."""
    from matplotlib import colormaps  # here: ~1 s to import, only reports need it
    from matplotlib.figure import Figure

    centres = camera_centers(rec.extrinsics)
    forward = rec.extrinsics[:, 2, :3]  # camera z axis in world coordinates
    extent = np.ptp(centres, axis=0).max() if len(centres) > 1 else 1.0
    arrow = forward * (0.15 * (extent if extent > 0 else 1.0))
    colours = colormaps["viridis"](np.linspace(0, 1, len(centres)))
    # A bare Figure (no pyplot): no global backend switch in the caller's process, safe in service threads.
    fig = Figure(figsize=(10, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, (a, b), title in zip(axes, [(0, 2), (2, 1)], ["top view (x, z)", "side view (z, y down)"]):
        ax.plot(centres[:, a], centres[:, b], "-", color="#bbb", lw=1, zorder=1)
        ax.quiver(centres[:, a], centres[:, b], arrow[:, a], arrow[:, b], color=colours, angles="xy",
                  scale_units="xy", scale=1, width=0.004, zorder=2)  # fmt: skip
        ax.scatter(centres[:, a], centres[:, b], c=colours, s=28, zorder=3, edgecolors="k", linewidths=0.4)
        ax.scatter(centres[:1, a], centres[:1, b], marker="*", s=160, c="#e4572e", zorder=4, label="frame 0")
        ax.set_title(title, fontsize=11)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
        if b == 1:
            ax.invert_yaxis()
    axes[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _cards(rec) -> str:  # noqa: ANN001
    cards = [
        ("images", len(rec.names)),
        ("model input", f"{rec.images.shape[2]}x{rec.images.shape[1]}"),
        ("points (ply)", f"{len(rec.points):,}"),
        ("sparse points", f"{rec.colmap.num_points:,}"),
        ("total time", f"{sum(rec.timings.values()):.1f} s"),
    ]
    solved = rec.camera_solve
    if solved is not None:
        cards.append(("cameras from matches", f"{int(solved.solved.sum())} of {len(solved.solved)}"))
    if rec.ba is not None:
        cards.append(("reprojection error", f"{rec.ba.error_before:.2f} → {rec.ba.error_after:.2f} px"))
    if rec.reference:
        cards.append(("AUC@30 vs reference", f"{rec.reference['auc30']:.1f}"))
    return (
        '<div class="cards">'
        + "".join(f"<div class='card'><b>{v}</b><span>{k}</span></div>" for k, v in cards)
        + "</div>"
    )


def _timings_html(timings: dict[str, float]) -> str:
    top = max(timings.values()) if timings else 1.0
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.2f} s</td>"
        f'<td style="width:320px"><div class="bar" style="width:{100 * v / top:.0f}%"></div></td></tr>'
        for k, v in timings.items()
    )
    total = f"<tr><th>total</th><td>{sum(timings.values()):.2f} s</td></tr>"
    return f"<section><h2>Timings</h2><table>{rows}{total}</table></section>"


def _ba_html(rec, summary: dict) -> str:  # noqa: ANN001
    parts = []
    ba = summary.get("bundle_adjustment")
    if ba:
        labels = {
            "points": "points kept",
            "observations": "observations kept",
            "reprojection_error_before_px": "reprojection error before (px)",
            "reprojection_error_after_px": "reprojection error after (px)",
            "tracks": "tracks",
            "tracks_triangulated": "tracks triangulated",
            "skipped": "skipped",
        }
        rows = [(labels[k], f"{v:.3f}" if isinstance(v, float) else v) for k, v in ba.items() if k in labels]
        parts.append("<section><h2>Bundle adjustment</h2>" + _table(rows) + _rounds_table(ba.get("rounds", [])))
        parts.append("</section>")
    cameras = summary.get("cameras") or {}
    if cameras.get("source") == "matches":
        rows = [
            ("frames solved from matches", f"{cameras['solved_frames']} of {cameras['frames']}"),
            ("focal length", cameras["focal_length"]),
            ("frame pairs matched", cameras["pairs_matched"]),
        ] + [("note", n) for n in cameras["notes"]]
        parts.append(
            "<section><h2>Cameras</h2><p class='note'>Solved from SIFT matches of the images and the model's depth "
            "(<code>--cameras matches</code>), not taken from the camera head.</p>" + _table(rows) + "</section>"
        )
    if rec.reference:
        keys = ["auc30", "auc30_unsigned", "auc15", "auc5", "auc3", "rra5", "rta5", "registered", "frames",
                "focal_rel_err_median", "reference"]  # fmt: skip
        rows = [
            (k, f"{rec.reference[k]:.3f}" if isinstance(rec.reference[k], float) else rec.reference[k]) for k in keys
        ]
        parts.append("<section><h2>Cameras against the reference</h2>" + _table(rows) + "</section>")
    return "".join(parts)


def _rounds_table(rounds: list[dict]) -> str:
    if not rounds:
        return ""
    head = "<tr><th>round</th><th>threshold (model px)</th><th>points</th><th>frames held</th>"
    head += "<th>solver</th><th>seconds</th></tr>"
    body = "".join(
        f"<tr><td>{i + 1}</td><td>{r.get('threshold_model_px', '')}</td><td>{r.get('points', '')}</td>"
        f"<td>{', '.join(map(str, r.get('frames_held', []))) or '-'}</td>"
        f"<td>{html.escape(str(r.get('termination', '')))}</td><td>{r.get('seconds', '')}</td></tr>"
        for i, r in enumerate(rounds)
    )
    return f'<table style="margin-top:10px">{head}{body}</table>'


_FILES = [
    ("sparse/0/", "COLMAP model (cameras.bin, images.bin, points3D.bin), original resolution"),
    ("images/", "the input images, upright"),
    ("points.ply", "coloured point cloud, confidence-filtered"),
    ("scene.glb", "points and camera frustums (glTF, y up)"),
    ("depth/", "per-image depth (.npy float32, .png 16-bit, see meta.json) and confidence"),
    ("transforms.json", "nerfstudio cameras"),
    ("predictions.npz", "raw model outputs and cameras"),
    ("run.json", "settings, timings and scores as JSON"),
]


def _caveat_html(weights: str) -> str:
    """A warning above everything else when the shipped default model made this page."""
    if not is_default_weights(weights):
        return ""
    return f'<p class="caveat"><b>Note:</b> {html.escape(DEFAULT_MODEL_CAVEAT)}.</p>'


def write_report(rec, path: Path, summary: dict) -> Path:  # noqa: ANN001
    """Write the page to ``path``."""
    settings = [(k, v) for k, v in summary["options"].items() if k != "ba_options" or rec.options.ba]
    settings = [("weights", rec.weights), ("openvggt", summary["openvggt"]), ("torch", summary["torch"])] + settings
    files = "".join(
        f'<tr><th><a href="{f}">{f}</a></th><td>{html.escape(d)}</td></tr>'
        for f, d in _FILES
        if (path.parent / f.rstrip("/")).exists()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>openvggt reconstruction</title>
<style>{_CSS}</style></head><body><header><h1>Reconstruction of {len(rec.names)} images</h1>
<p>{html.escape(rec.weights)} · input {rec.images.shape[2]}x{rec.images.shape[1]} ({rec.options.mode}) ·
{"with" if rec.ba is not None else "without"} bundle adjustment</p></header><main>
{_caveat_html(rec.weights)}
{_cards(rec)}
{viewer_section(rec.points, rec.colors, rec.extrinsics, rec.intrinsics_model, rec.images)}
<section><h2>Camera trajectory</h2><p class="note">World frame = first camera (OpenCV: x right, y down,
z forward); arrows show viewing directions, colour runs from the first to the last frame.</p>
<img src="{trajectory_png(rec)}" alt="camera trajectory" style="max-width:100%"></section>
{_ba_html(rec, summary)}
{_frames_html(rec)}
{_timings_html(rec.timings)}
<section><h2>Settings</h2>{_table(settings)}</section>
<section><h2>Files</h2><table>{files}</table></section>
</main></body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
