"""Parity with the official implementation, through every fixture in ../shared/fixtures.

Each fixture holds weights with official names, inputs and float64 outputs of the official code.
Nothing here is specific to one fixture: sizes, batch, heads and config come from its meta.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openvggt.models.config import VGGTConfig
from openvggt.models.vggt import VGGT
from tests.conftest import SHARED, rel_err, shared_path

TOL = 1e-6


def _fixture_dirs() -> list[Path]:
    root = SHARED / "fixtures"
    dirs = sorted(p for p in root.glob("*") if (p / "meta.json").is_file() and (p / "outputs.safetensors").is_file())
    return dirs or [root / "parity_tiny"]


@pytest.fixture(scope="module", params=_fixture_dirs(), ids=lambda p: p.name)
def fixture_run(request):
    d = shared_path("fixtures", request.param.name)
    meta = json.loads((d / "meta.json").read_text())
    cfg = VGGTConfig.from_dict(meta["config"])
    model = VGGT(cfg)
    model.load_state_dict(load_file(str(d / "state_dict.safetensors")), strict=True)
    model = model.double().eval()
    inputs = load_file(str(d / "inputs.safetensors"))
    images = inputs["images"].double()
    queries = inputs.get("query_points")
    ref = load_file(str(d / "outputs.safetensors"))
    layers = sorted(int(k.rsplit(".", 1)[1]) for k in ref if k.startswith("aggregator.tokens."))
    with torch.no_grad():
        out = model(images, query_points=None if queries is None else queries.double())
        tokens, _ = model.aggregator(images, layers=layers)
    return meta, out, tokens, ref


def test_output_shapes_match_meta(fixture_run):
    meta, out, tokens, ref = fixture_run
    for name, shape in meta["outputs"].items():
        if name.startswith("aggregator.tokens."):
            got = tokens[int(name.rsplit(".", 1)[1])]
        elif name.startswith("pose_enc_list."):
            got = out.pose_enc_list[int(name.rsplit(".", 1)[1])]
        else:
            got = out[name]
        assert list(got.shape) == shape, name


@pytest.mark.parametrize("name", ["pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"])
def test_dense_and_camera_outputs(fixture_run, name):
    _, out, _, ref = fixture_run
    assert rel_err(out[name], ref[name]) < TOL


def test_every_camera_iteration(fixture_run):
    _, out, _, ref = fixture_run
    for i, pred in enumerate(out.pose_enc_list):
        assert rel_err(pred, ref[f"pose_enc_list.{i}"]) < TOL, i


def test_aggregator_layers(fixture_run):
    _, _, tokens, ref = fixture_run
    for key, value in ref.items():
        if key.startswith("aggregator.tokens."):
            assert rel_err(tokens[int(key.rsplit(".", 1)[1])], value) < TOL, key


@pytest.mark.parametrize("name", ["track", "vis", "conf"])
def test_tracks(fixture_run, name):
    _, out, _, ref = fixture_run
    if name not in ref:
        pytest.skip("fixture has no tracks")
    assert rel_err(out[name], ref[name]) < TOL
