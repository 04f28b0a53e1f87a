"""``report.html``: one self-contained page (images embedded) summarising a reconstruction.

Sections: headline numbers, camera trajectory (top view and side view, an inline SVG), per-image
thumbnail / depth / confidence, bundle adjustment and reference scores, settings, timings, files.
No plotting library: importing matplotlib alone took longer than the rest of the page (~1 s of a 10-image run).
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


# Colour ramps (anchor colours, linearly interpolated): inverse depth from far (deep blue) to near (red), and
# confidence from low (near black) to high (pale yellow).
_RAMPS = {
    "depth": np.array([[35, 23, 110], [30, 120, 200], [40, 190, 160], [190, 220, 60], [250, 150, 30], [200, 30, 30]]),
    "confidence": np.array([[10, 8, 30], [90, 20, 110], [200, 60, 80], [250, 160, 60], [252, 250, 190]]),
    "frames": np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]),
}


def ramp(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` in [0, 1] (any shape) to uint8 RGB ``[..., 3]`` on the named ramp of :data:`_RAMPS`."""
    anchors = _RAMPS[name].astype(np.float64)
    at = np.linspace(0.0, 1.0, len(anchors))
    v = np.clip(np.nan_to_num(values), 0.0, 1.0)
    return np.stack([np.interp(v, at, anchors[:, c]) for c in range(3)], -1).round().astype(np.uint8)


def _colour_map(values: np.ndarray, mask: np.ndarray, name: str, lo_hi: tuple[float, float]) -> Image.Image:
    lo, hi = lo_hi
    rgb = ramp((values - lo) / max(hi - lo, 1e-12), name)
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
        depth = _thumb(_colour_map(inv[i][crop], mask_all[i][crop], "depth", inv_range))
        conf = _thumb(_colour_map(logc[i][crop], rec.valid[i][crop], "confidence", conf_range))
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


def _panel(points: np.ndarray, arrows: np.ndarray, colours: list[str], box: tuple, title: str, axes: str) -> str:
    """One SVG view: ``points [S, 2]`` (already in screen orientation: y down) and ``arrows [S, 2]`` fitted with one
    scale into ``box`` (x, y, width, height)."""
    x0, y0, w, h = box
    ends = np.concatenate([points, points + arrows])
    lo, hi = ends.min(0), ends.max(0)
    scale = 0.9 * min(w, h) / float(max((hi - lo).max(), 1e-9))
    screen = (ends - (lo + hi) / 2) * scale + [x0 + w / 2, y0 + h / 2]
    at, tip = screen[: len(points)], screen[len(points) :]
    out = [
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d5dae0"/>',
        f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="14">{title}</text>',
        f'<text x="{x0 + w - 6}" y="{y0 + h - 8}" text-anchor="end" font-size="11" fill="#5b6673">{axes}</text>',
    ]
    if len(at) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in at)
        out.append(f'<polyline points="{path}" fill="none" stroke="#bbb" stroke-width="1"/>')
    for (x, y), (u, v), c in zip(at, tip, colours):
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{u:.1f}" y2="{v:.1f}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{c}" stroke="#000" stroke-width="0.4"/>')
    x, y = at[0]
    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="#e4572e" stroke-width="2.5"/>')
    return "".join(out)


def trajectory_svg(rec) -> str:  # noqa: ANN001
    """An inline SVG of the camera centres and viewing directions seen from above (x right, z up the page) and from
    the side (z right, y down the page); frame 0 circled in red, colour from the first frame to the last."""
    centres = camera_centers(rec.extrinsics)
    forward = rec.extrinsics[:, 2, :3]  # camera z axis in world coordinates
    extent = np.ptp(centres, axis=0).max() if len(centres) > 1 else 1.0
    arrow = forward * (0.15 * (extent if extent > 0 else 1.0))
    colours = ["#%02x%02x%02x" % tuple(c) for c in ramp(np.linspace(0, 1, len(centres)), "frames")]  # noqa: UP031
    top = _panel(centres[:, [0, 2]] * [1, -1], arrow[:, [0, 2]] * [1, -1], colours, (20, 40, 460, 360),
                 "top view (x, z)", "x →, z ↑")  # fmt: skip
    side = _panel(centres[:, [2, 1]], arrow[:, [2, 1]], colours, (520, 40, 460, 360), "side view (z, y down)",
                  "z →, y ↓")  # fmt: skip
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1000 420" width="1000" style="max-width:100%" '
        f'font-family="system-ui,sans-serif" role="img" aria-label="camera trajectory">{top}{side}'
        '<text x="500" y="414" text-anchor="middle" font-size="11" fill="#5b6673">red circle: frame 0</text></svg>'
    )


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
            "min_track_length": "frames a track needs",
            "focal_length_refined": "focal length refined",
            "skipped": "skipped",
        }

        def cell(v: object) -> object:
            return ("yes" if v else "no") if isinstance(v, bool) else f"{v:.3f}" if isinstance(v, float) else v

        rows = [(labels[k], cell(v)) for k, v in ba.items() if k in labels]
        parts.append("<section><h2>Bundle adjustment</h2>" + _table(rows) + _rounds_table(ba.get("rounds", [])))
        parts.append("</section>")
    cameras = summary.get("cameras") or {}
    if cameras.get("source") == "matches":
        rows = [
            ("frames solved from matches", f"{cameras['solved_frames']} of {cameras['frames']}"),
            (
                "focal length",
                f"{cameras['focal_length']}, {cameras['focal_px']:.0f} px"
                if "focal_px" in cameras
                else cameras["focal_length"],
            ),
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
{trajectory_svg(rec)}</section>
{_ba_html(rec, summary)}
{_frames_html(rec)}
{_timings_html(rec.timings)}
<section><h2>Settings</h2>{_table(settings)}</section>
<section><h2>Files</h2><table>{files}</table></section>
</main></body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
