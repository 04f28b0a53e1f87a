"""report.html on its own: a self-contained page whose pictures decode and whose text is escaped."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from openvggt.models.pretrained import DEFAULT_WEIGHTS, is_default_weights
from openvggt.pipeline import report
from openvggt.pipeline.reconstruct import reconstruct
from openvggt.pipeline.report import _ba_html, ramp, trajectory_svg
from tests.pipeline.conftest import SIZE, textured


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str]] = []  # (alt, src)
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag == "img":
            self.images.append((a.get("alt", ""), a.get("src", "")))
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts += 1


@pytest.fixture(scope="module")
def written(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("report_in")
    names = ["a<b>&c.jpg", "plain.jpg", "third.jpg"]
    for i, name in enumerate(names):
        Image.fromarray(textured(196, 140, seed=i)).save(folder / name, quality=95)
    rec = reconstruct([folder], model=tiny_model, size=SIZE, dtype="fp32")
    out = rec.save(tmp_path_factory.mktemp("report_out") / "out")
    return rec, out, (out / "report.html").read_text(encoding="utf-8")


def test_every_picture_is_embedded_and_decodes(written):
    rec, _, text = written
    page = _Page()
    page.feed(text)
    kinds = [alt for alt, _ in page.images]
    assert kinds.count("image") == kinds.count("depth") == kinds.count("confidence") == len(rec.names)
    assert "camera trajectory" not in kinds and 'aria-label="camera trajectory"' in text  # an inline SVG
    for _, src in page.images:
        assert src.startswith("data:image/")  # nothing fetched: the page opens from disk
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert page.scripts == 0


def test_names_are_escaped_and_the_facts_are_there(written):
    rec, out, text = written
    assert "a&lt;b&gt;&amp;c.jpg" in text and "a<b>" not in text
    assert f"Reconstruction of {len(rec.names)} images" in text
    assert "without bundle adjustment" in text
    assert "report" in rec.timings  # timed after the page is written, so the page cannot hold it
    for stage in (s for s in rec.timings if s != "report"):
        assert f"<th>{stage}</th>" in text
    page = _Page()
    page.feed(text)
    assert page.links and all((out / link.rstrip("/")).exists() for link in page.links)


def test_long_runs_show_a_sample_of_frames(written, tmp_path, monkeypatch):
    rec, _, _ = written
    monkeypatch.setattr(report, "MAX_FRAMES_SHOWN", 2)
    summary = {"options": {}, "openvggt": "x", "torch": "y"}
    text = report.write_report(rec, tmp_path / "r.html", summary).read_text(encoding="utf-8")
    assert "2 of 3 frames shown" in text
    assert len(re.findall(r'alt="depth"', text)) == 2


def test_the_shipped_model_says_its_cameras_are_not_to_be_trusted(written, tmp_path, monkeypatch):
    """A page made with the shipped default model carries the model card's caveat; any other weights, none."""
    rec, _, text = written
    assert 'class="caveat"' not in text  # a model passed in
    monkeypatch.setattr(rec, "weights", "default")
    summary = {"options": {}, "openvggt": "x", "torch": "y"}
    page = report.write_report(rec, tmp_path / "r.html", summary).read_text(encoding="utf-8")
    assert 'class="caveat"' in page and "cameras near chance" in page and "facebook/VGGT-1B" in page
    assert page.index('class="caveat"') < page.index("Camera trajectory")  # above the results


def test_is_default_weights_names_the_shipped_file_only(tmp_path):
    assert is_default_weights("default") and is_default_weights(DEFAULT_WEIGHTS)
    assert is_default_weights(str(DEFAULT_WEIGHTS.parent / ".." / "weights" / DEFAULT_WEIGHTS.name))
    assert not is_default_weights(None) and not is_default_weights(tmp_path / "vggt-small.safetensors")
    assert not is_default_weights("facebook/VGGT-1B")


def test_the_long_sequence_plot_leaves_the_callers_matplotlib_alone():
    """The long-sequence plot draws on a bare Figure: pyplot is never imported and the caller's backend is kept
    (a notebook's inline backend, a service's threads); the reconstruction report imports no matplotlib at all."""
    code = (
        "import sys, numpy as np, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from openvggt.longseq.report import trajectory_png as long_png\n"
        "assert long_png({'a': np.random.rand(5, 3)}, [(0, 4)])[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["svg", "False"], out.stdout + out.stderr
    code = (
        "import sys, numpy as np\n"
        "from types import SimpleNamespace\n"
        "from openvggt.pipeline.report import trajectory_svg, ramp\n"
        "ext = np.tile(np.eye(4)[:3], (3, 1, 1)); ext[:, 0, 3] = [0.0, 1.0, 2.0]\n"
        "svg = trajectory_svg(SimpleNamespace(extrinsics=ext)); ramp(np.zeros(2), 'depth')\n"
        "print(svg.count('<circle'), 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["8", "False"], out.stdout + out.stderr  # 3 cameras x 2 views + frame 0 x 2


def test_the_trajectory_svg_puts_each_camera_where_it_is():
    """Top view: x to the right, z up the page; side view: z to the right, y down the page; one scale per view."""
    ext = np.tile(np.eye(4)[:3], (3, 1, 1))
    ext[:, :, 3] = -np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 1.0]])  # centres (x_cam = x - c)
    svg = trajectory_svg(SimpleNamespace(extrinsics=ext))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    dots = [(float(a), float(b)) for a, b in re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)" r="4"', svg)]
    top, side = dots[:3], dots[3:]
    assert top[1][0] > top[0][0] and abs(top[1][1] - top[0][1]) < 1e-6  # +x: right
    assert top[2][1] < top[0][1]  # +z: up the page
    assert side[2][0] > side[0][0] and side[2][1] > side[0][1]  # +z right, +y down
    assert ramp(np.array([0.0, 1.0]), "depth").tolist() == [[35, 23, 110], [200, 30, 30]]


def test_the_bundle_adjustment_table_says_which_tracks_and_focal_length_it_used() -> None:
    html = _ba_html(
        SimpleNamespace(reference=None),
        {"bundle_adjustment": {"points": 12, "min_track_length": 2, "focal_length_refined": False}},
    )
    assert "<th>frames a track needs</th><td>2</td>" in html and "<th>focal length refined</th><td>no</td>" in html
    assert "<th>points kept</th><td>12</td>" in html
