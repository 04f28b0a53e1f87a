"""Small synthetic scenes shared by the data tests (64 px, a few frames: cheap to render)."""

from __future__ import annotations

import pytest

from openvggt.data.synth.synthetic import SynthConfig, generate_scene, write_scene


@pytest.fixture(scope="session")
def tiny_scenes():
    """One scene per family, 4 frames at 64 px, constant exposure (colours comparable across frames)."""
    out = {}
    for i, family in enumerate(("indoor", "object", "street", "video")):
        cfg = SynthConfig(num_frames=4, size=64, family=family, photometric=False)
        out[family] = generate_scene(7, i, cfg)
    return out


@pytest.fixture(scope="session")
def written_scenes(tmp_path_factory, tiny_scenes):
    """The tiny scenes written to disk in the synthetic layout; returns their folders."""
    root = tmp_path_factory.mktemp("synth")
    return [write_scene(s, root) for s in tiny_scenes.values()]
