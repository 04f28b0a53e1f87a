"""The browser viewer's payload and HTML, and the interactive report."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from openvggt.viz.web import MAX_WEB_POINTS, static_text, viewer_html, web_payload
from tests.browser import canvas_pixels, chromium, drawn_fraction


def _decode(payload: dict) -> tuple[np.ndarray, np.ndarray]:
    p = payload["points"]
    q = np.frombuffer(base64.b64decode(p["position"]), "<u2").reshape(-1, 3)
    lo, hi = np.array(p["min"]), np.array(p["max"])
    return lo + q / 65535 * (hi - lo), np.frombuffer(base64.b64decode(p["color"]), np.uint8).reshape(-1, 3)


def _cameras(n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    return np.tile(np.eye(4)[:3], (n, 1, 1)), np.tile(np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]]), (n, 1, 1))


def test_payload_round_trip_within_the_quantisation_step():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5000, 3)) * [1.0, 2.0, 0.5]
    colors = rng.integers(0, 255, (5000, 3), dtype=np.uint8)
    e, k = _cameras()
    payload = web_payload(points, colors, e, k, (64, 48), images=rng.integers(0, 255, (2, 48, 64, 3), np.uint8))
    decoded, decoded_colors = _decode(payload)
    step = (points.max(0) - points.min(0)) / 65535
    assert np.all(np.abs(decoded - points) <= step / 2 + 1e-12)
    np.testing.assert_array_equal(decoded_colors, colors)
    cam = payload["cameras"][1]
    assert cam["width"] == 64 and cam["height"] == 48 and cam["image"].startswith("data:image/jpeg;base64,")
    json.dumps(payload)  # plain JSON


def test_payload_is_subsampled_and_drops_non_finite_points():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(MAX_WEB_POINTS + 50_000, 3))
    points[:10] = np.nan
    e, k = _cameras(1)
    payload = web_payload(points, np.zeros_like(points, np.uint8), e, k, (64, 48))
    assert payload["points"]["count"] == MAX_WEB_POINTS
    assert np.isfinite(_decode(payload)[0]).all()
    assert web_payload(np.zeros((0, 3)), np.zeros((0, 3)), e, k, (64, 48))["points"]["count"] == 0
    with pytest.raises(ValueError, match="colours"):
        web_payload(points[:5], np.zeros((4, 3)), e, k, (64, 48))


def test_viewer_html_is_self_contained():
    e, k = _cameras()
    html = viewer_html(web_payload(np.ones((3, 3)), np.zeros((3, 3)), e, k, (64, 48)))
    assert html.lower().count("</script") == 4  # data, three.js, viewer, mount: nothing inside closes early
    assert static_text("three.bundle.min.js") in html.replace("<\\/script", "</script")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no network
    assert "Copyright 2010-2026 Three.js Authors" in static_text("three.bundle.min.js")


def test_report_has_the_3d_view_and_stays_small(tiny_output):
    report = (tiny_output / "report.html").read_text()
    assert "<h2>3D view</h2>" in report and "OpenVGGTViewer.mount" in report
    assert "http://" not in report.replace("http://www.w3.org", "") and "https://" not in report
    assert (tiny_output / "report.html").stat().st_size < 3_000_000


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_report_opens_from_disk_and_draws(shipped_output):
    with chromium() as driver:
        driver.get((shipped_output / "report.html").as_uri())
        driver.implicitly_wait(0)
        for _ in range(100):
            if driver.execute_script("return document.getElementById('openvggt-viewer').dataset.ready") == "1":
                break
            driver.execute_script("return new Promise(r => setTimeout(r, 100))")
        pixels = canvas_pixels(driver, "#openvggt-viewer canvas")
        assert drawn_fraction(pixels) > 0.02
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
