"""Every random range of the scene layouts is non-empty: thousands of layouts across seeds and families.

Layout only: textures are replaced by one tiny texture and cameras are proposed but not checked by ray
casting (the expensive parts), so the sweep exercises every ``rng.uniform``/``rng.integers`` draw of the
room, street and object builders and of the camera proposals in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

import openvggt.data.synth.builder as builder
import openvggt.data.synth.families as families
from openvggt.data.synth.cameras import make_camera, sample_intrinsics
from openvggt.data.synth.families import FAMILIES
from openvggt.data.synth.synthetic import _rng
from openvggt.data.synth.textures import procedural_texture


@pytest.fixture
def cheap_layouts(monkeypatch):
    """Patch out texture synthesis and ray-cast view checks; keep every geometric draw."""
    tiny = procedural_texture("plain", np.random.default_rng(0), 8)

    def texture(kind, rng, size=256, saturation=0.5):
        rng.random()  # one draw, so the stream still advances per material
        return tiny

    def cameras(rng, scene, intr, n, propose, rules):
        return [make_camera(intr, *propose(rng, j)) for j in range(n)]

    def forward(rng, scene, intr, n, start, step_range, rules, yaw_hint=None):
        step = rng.uniform(*step_range)
        return [make_camera(intr, start + [step * j, 0, 0], start + [step * j + 5, 0, 0]) for j in range(n)]

    monkeypatch.setattr(builder, "procedural_texture", texture)
    monkeypatch.setattr(families, "procedural_texture", texture)
    monkeypatch.setattr(families, "choose_cameras", cameras)
    monkeypatch.setattr(families, "_forward_path", forward)


@pytest.mark.parametrize("family", FAMILIES)
def test_thousands_of_layouts_never_raise(cheap_layouts, family):
    n_layouts = 1000 if family in ("indoor", "object") else 400  # rooms hold the narrowest ranges
    failures = []
    for seed in (0, 7, 123):
        for index in range(n_layouts // 3 + 1):
            rng = _rng(seed, index, 1, 0)
            intr = sample_intrinsics(rng, 64, (40.0, 75.0) if family == "object" else (40.0, 100.0))
            try:
                scene, cams = families.BUILDERS[family](rng, 4, intr)
            except families.LayoutFailed:
                continue
            except ValueError as exc:  # an empty random range: numpy's "high - low < 0" / "low >= high"
                failures.append(f"seed {seed} index {index}: {exc}")
                continue
            assert len(cams) == 4 and scene.primitives
    assert not failures, f"{len(failures)} layouts raised, e.g. {failures[:3]}"


@pytest.mark.parametrize("height", [2.4, 2.45, 2.6, 3.4])
@pytest.mark.parametrize("half", [2.0, 2.4, 5.0])
def test_rooms_at_the_extremes_of_their_size_ranges(cheap_layouts, height, half):
    """The lowest ceilings and narrowest walls every family can draw, many decoration draws each."""
    for k in range(30):
        b = builder.SceneBuilder(np.random.default_rng([k, int(height * 100), int(half * 10)]))
        families.build_room(b, half, half, height)
        assert b.primitives
