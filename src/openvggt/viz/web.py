"""The browser viewer: a compact JSON payload of points and cameras, and the HTML that shows it.

The viewer is ``static/viewer.js`` (ours) on top of ``static/three.bundle.min.js`` (three.js,
MIT, built by ``tools/three/build.sh``). :func:`viewer_html` inlines both, so a page that embeds it
opens from disk with no network; the service serves the same two files from the package.

Payload (``version`` 1), OpenCV world coordinates, extrinsics world-to-camera::

    points.count            P (at most MAX_WEB_POINTS)
    points.min / max        bounding box, [3] each
    points.position         base64 of uint16 [P, 3], quantised in the box (error <= extent / 131070)
    points.color            base64 of uint8 [P, 3] sRGB
    cameras[i].w2c          [3][4] world-to-camera
    cameras[i].K            [3][3] pixels of the image below, corner origin
    cameras[i].width/height image size in those pixels
    cameras[i].image        data URI of a small JPEG (optional)
"""

from __future__ import annotations

import base64
import io
import json
import re
from functools import cache
from importlib import resources

import numpy as np
from PIL import Image

MAX_WEB_POINTS = 200_000
THUMB_WIDTH = 160


@cache
def static_text(name: str) -> str:
    """A file of ``openvggt/viz/static`` as text (``three.bundle.min.js``, ``viewer.js``, ...)."""
    return resources.files("openvggt.viz").joinpath("static", name).read_text(encoding="utf-8")


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _thumb_uri(image: np.ndarray, width: int) -> str:
    pil = Image.fromarray(image)
    height = max(1, round(pil.height * width / pil.width))
    buffer = io.BytesIO()
    pil.resize((width, height), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def web_payload(
    points: np.ndarray,
    colors: np.ndarray,
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    images: np.ndarray | None = None,
    max_points: int = MAX_WEB_POINTS,
    thumb_width: int = THUMB_WIDTH,
    seed: int = 0,
) -> dict:
    """The viewer's JSON payload (see the module docstring).

    Args:
        points, colors: ``[P, 3]`` float world points and uint8 colours; subsampled to ``max_points``.
        extrinsics: ``[S, 3, 4]`` world-to-camera. intrinsics: ``[S, 3, 3]`` in pixels of ``image_size``.
        image_size: ``(width, height)`` of the images the intrinsics refer to.
        images: ``[S, h, w, 3]`` uint8 pictures shown in the frustums (any size of that aspect), optional;
            or a list with ``None`` for frames without a picture.
    """
    points = np.asarray(points, np.float64).reshape(-1, 3)
    colors = np.asarray(colors, np.uint8).reshape(-1, 3)
    if len(points) != len(colors):
        raise ValueError(f"{len(points)} points but {len(colors)} colours")
    keep = np.isfinite(points).all(-1)
    points, colors = points[keep], colors[keep]
    if len(points) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(points), size=max_points, replace=False))
        points, colors = points[idx], colors[idx]
    lo = points.min(0) if len(points) else np.zeros(3)
    hi = points.max(0) if len(points) else np.ones(3)
    span = np.where(hi > lo, hi - lo, 1.0)
    quantised = np.round((points - lo) / span * 65535).astype("<u2")  # [P, 3]
    width, height = image_size
    cameras = []
    for i, (w2c, k) in enumerate(zip(np.asarray(extrinsics, np.float64), np.asarray(intrinsics, np.float64))):
        camera = {"w2c": np.round(w2c, 7).tolist(), "K": np.round(k, 4).tolist(), "width": width, "height": height}
        if images is not None and images[i] is not None:
            camera["image"] = _thumb_uri(images[i], thumb_width)
        cameras.append(camera)
    return {
        "version": 1,
        "points": {
            "count": int(len(points)),
            "min": lo.tolist(),
            "max": (lo + span).tolist(),
            "position": _b64(quantised),
            "color": _b64(colors),
        },
        "cameras": cameras,
    }


_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)


def _script_safe(text: str) -> str:
    """Text that cannot close the ``<script>`` element it sits in (``<\\/script`` means the same in JS)."""
    return _SCRIPT_END.sub(r"<\\/\1", text)


def viewer_html(payload: dict, height: int = 560, element_id: str = "openvggt-viewer") -> str:
    """A self-contained ``<div>`` + scripts that render ``payload`` (three.js and the viewer inlined)."""
    data = _script_safe(json.dumps(payload, separators=(",", ":")))
    return (
        f'<div id="{element_id}" class="ovggt-viewer" style="position:relative;width:100%;height:{height}px"></div>'
        f'<script type="application/json" id="{element_id}-data">{data}</script>'
        f"<script>{_script_safe(static_text('three.bundle.min.js'))}</script>"
        f"<script>{_script_safe(static_text('viewer.js'))}</script>"
        f"<script>OpenVGGTViewer.mount(document.getElementById({json.dumps(element_id)}),"
        f"JSON.parse(document.getElementById({json.dumps(element_id + '-data')}).textContent));</script>"
    )


def scene_payload(scene, conf_percentile: float | None = None, max_points: int = MAX_WEB_POINTS) -> dict:  # noqa: ANN001
    """The payload of a :class:`~openvggt.viz.scene.ViewerScene` (depth points, final cameras).

    ``conf_percentile``: None keeps what the run wrote (50, the pipeline's default, for one-pass runs;
    the already filtered cloud of chunked runs)."""
    if conf_percentile is None:
        conf_percentile = 0.0 if scene.is_chunked else 50.0
    points, colors = scene.select("depth", conf_percentile, max_points=max_points)
    h, w = scene.image_hw
    images = scene.images if scene.images is not None else [scene.frame_image(i) for i in range(scene.num_frames)]
    return web_payload(points, colors, scene.extrinsics, scene.intrinsics, (w, h), images, max_points)


def viewer_section(
    points: np.ndarray, colors: np.ndarray, extrinsics: np.ndarray, intrinsics: np.ndarray, images: np.ndarray
) -> str:
    """The report's "3D view" ``<section>``: ``intrinsics [S, 3, 3]`` in pixels of ``images [S, H, W, 3]``."""
    payload = web_payload(points, colors, extrinsics, intrinsics, (images.shape[2], images.shape[1]), images)
    shown = payload["points"]["count"]
    note = f"{shown:,} of {len(points):,}" if shown < len(points) else f"all {shown:,}"
    return (
        '<section><h2>3D view</h2><p class="note">Drag to orbit, right-drag to pan, scroll to zoom; '
        f"{note} from points.ply, camera frustums with their images, the trajectory in blue.</p>"
        f"{viewer_html(payload)}</section>"
    )
