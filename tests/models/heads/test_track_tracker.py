"""TrackPredictor as a module: checkpoint layout, shapes, dtypes, batching and iteration semantics."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from openvggt.models.config import TrackHeadConfig, VGGTConfig
from openvggt.models.heads.track.corr import CorrPyramid
from openvggt.models.heads.track.tracker import TrackPredictor
from tests.conftest import shared_path

F64 = torch.float64
PREFIX = "track_head.tracker."


def _tiny_cfg(**changes) -> TrackHeadConfig:
    cfg = VGGTConfig.preset("vggt-tiny").track_head
    return TrackHeadConfig(**{**cfg.__dict__, **changes})


def _tracker(seed: int = 0, **changes) -> TrackPredictor:
    torch.manual_seed(seed)
    model = TrackPredictor(_tiny_cfg(**changes)).double().eval()
    with torch.no_grad():  # the training init (flow_head std 1e-3) barely moves the tracks
        nn.init.normal_(model.updateformer.flow_head.weight, std=0.05)
    return model


def _inputs(b: int = 1, s: int = 3, n: int = 5, c: int = 32, hw=(64, 72), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    fmaps = torch.randn(b, s, c, *hw, generator=g, dtype=F64)
    queries = torch.rand(b, n, 2, generator=g, dtype=F64) * torch.tensor([2.0 * hw[1], 2.0 * hw[0]], dtype=F64)
    return queries, fmaps


def test_state_dict_matches_the_fixture_and_loads_strictly():
    folder = shared_path("fixtures", "parity_tiny")
    cfg = VGGTConfig.from_dict(json.loads((folder / "meta.json").read_text())["config"]).track_head
    with safe_open(str(folder / "state_dict.safetensors"), "pt") as f:
        ref = {k[len(PREFIX) :]: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith(PREFIX)}
    model = TrackPredictor(cfg)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(ours) == sorted(ref)
    assert ours == ref
    weights = load_file(str(folder / "state_dict.safetensors"))
    model.load_state_dict({k[len(PREFIX) :]: v for k, v in weights.items() if k.startswith(PREFIX)}, strict=True)
    torch.testing.assert_close(model.updateformer.virual_tracks, weights[PREFIX + "updateformer.virual_tracks"])


def test_1b_tracker_equals_the_official_manifest_in_order():
    manifest = json.loads(shared_path("spec", "vggt1b_manifest.json").read_text())["tensors"]
    ref = [(k[len(PREFIX) :], shape) for k, shape in manifest.items() if k.startswith(PREFIX)]
    with torch.device("meta"):
        model = TrackPredictor(TrackHeadConfig())
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == ref


def test_parameter_counts_of_the_1b_tracker():
    with torch.device("meta"):
        model = TrackPredictor(TrackHeadConfig())  # spec section 10.2

    def count(m: nn.Module | nn.Parameter) -> int:
        return m.numel() if isinstance(m, nn.Parameter) else sum(p.numel() for p in m.parameters())

    assert count(model) == 43_107_348
    assert len(model.state_dict()) == 336
    assert count(model.query_ref_token) == 776
    assert count(model.corr_mlp) == 267_392
    assert count(model.updateformer) == 42_821_898
    assert count(model.updateformer.time_blocks) == 6 * 1_774_464
    assert count(model.updateformer.space_point2virtual_blocks) == 6 * 1_775_232


def test_output_shapes_dtypes_and_iterations():
    model = _tracker()
    queries, fmaps = _inputs(b=2, n=4)
    with torch.no_grad():
        preds, vis, conf = model(queries, fmaps)
        assert len(preds) == model.cfg.iters == 4
        assert all(p.shape == (2, 3, 4, 2) and p.dtype == F64 for p in preds)
        assert vis.shape == conf.shape == (2, 3, 4) and vis.dtype == conf.dtype == F64
        assert ((vis > 0) & (vis < 1)).all() and ((conf > 0) & (conf < 1)).all()
        assert len(model(queries, fmaps, iters=2)[0]) == 2
    no_conf = _tracker(predict_conf=False)
    assert no_conf.conf_predictor is None
    assert no_conf(queries, fmaps, iters=1)[2] is None


def test_logits_when_sigmoid_is_off():
    model = _tracker()
    queries, fmaps = _inputs()
    with torch.no_grad():
        _, vis, conf = model(queries, fmaps, iters=2)
        _, vis_logit, conf_logit = model(queries, fmaps, iters=2, apply_sigmoid=False)
    assert (vis_logit < 0).any() or (vis_logit > 1).any()
    torch.testing.assert_close(torch.sigmoid(vis_logit), vis)
    torch.testing.assert_close(torch.sigmoid(conf_logit), conf)


def test_frame_zero_is_the_query_and_tracks_move_elsewhere():
    model = _tracker()
    queries, fmaps = _inputs(s=4)
    with torch.no_grad():
        preds, _, _ = model(queries, fmaps)
    for p in preds:
        assert torch.equal(p[:, 0], queries)
    assert (preds[-1][:, 1:] - queries[:, None]).abs().max() > 1e-3


def test_coordinate_updates_accumulate_in_input_pixels():
    # With a flow head that outputs a constant (dx, dy) in feature pixels, iteration k has moved every
    # track of frames >= 1 by k * stride * (dx, dy) input pixels.
    model = _tracker()
    with torch.no_grad():
        model.updateformer.flow_head.weight.zero_()
        model.updateformer.flow_head.bias[:2] = torch.tensor([0.75, -0.5], dtype=F64)
        queries, fmaps = _inputs(s=3)
        preds, _, _ = model(queries, fmaps)
    step = model.cfg.stride * torch.tensor([0.75, -0.5], dtype=F64)
    for k, p in enumerate(preds, start=1):
        torch.testing.assert_close(p[:, 1:], (queries + k * step)[:, None].expand(-1, 2, -1, -1))


def test_batch_of_two_equals_two_single_runs():
    model = _tracker(seed=3)
    queries, fmaps = _inputs(b=2, n=6, seed=3)
    with torch.no_grad():
        both = model(queries, fmaps)
        singles = [model(queries[i : i + 1], fmaps[i : i + 1]) for i in range(2)]
    # float64 rounding differs between batched and single matmuls and the tracker amplifies it
    # (~1e-12 here); any leak between batch elements would show at 1e-3 or more.
    for i, single in enumerate(singles):
        for a, b in zip(both[0], single[0]):
            torch.testing.assert_close(a[i : i + 1], b, atol=1e-8, rtol=0)
        torch.testing.assert_close(both[1][i : i + 1], single[1], atol=1e-8, rtol=0)
        torch.testing.assert_close(both[2][i : i + 1], single[2], atol=1e-8, rtol=0)


def test_queries_are_coupled_through_virtual_tracks():
    # Documented behaviour: the result for one query depends on the others (no exact chunking).
    model = _tracker(seed=4)
    queries, fmaps = _inputs(n=4, seed=4)
    with torch.no_grad():
        full = model(queries, fmaps, iters=1)[0][0]
        part = model(queries[:, :2], fmaps, iters=1)[0][0]
    assert (full[:, 1:, :2] - part[:, 1:]).abs().max() > 1e-9


def test_volume_and_local_correlation_give_the_same_tracks():
    model = _tracker(seed=5)
    queries, fmaps = _inputs(seed=5)
    with torch.no_grad():
        local = model(queries, fmaps)
        model.corr_method = "volume"
        volume = model(queries, fmaps)
    torch.testing.assert_close(local[0][-1], volume[0][-1], atol=1e-9, rtol=0)
    torch.testing.assert_close(local[1], volume[1], atol=1e-9, rtol=0)


def test_float32_and_bf16_autocast_run():
    torch.manual_seed(6)
    model = TrackPredictor(_tiny_cfg()).eval()
    queries, fmaps = _inputs(seed=6)
    fmaps = fmaps.float()
    with torch.no_grad():  # float64 queries follow the fp32 features
        assert model(queries, fmaps, iters=1)[0][0].dtype == torch.float32
    queries = queries.float()
    with torch.no_grad():
        preds, vis, conf = model(queries, fmaps, iters=2)
        assert preds[-1].dtype == torch.float32 and torch.isfinite(preds[-1]).all()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            preds16, vis16, _ = model(queries, fmaps, iters=2)
    assert torch.isfinite(preds16[-1]).all() and torch.isfinite(vis16).all()
    assert (preds16[-1].float() - preds[-1]).abs().max() < 1.0  # bf16: same tracks to within a pixel


def test_gradients_reach_features_and_weights(monkeypatch):
    seen = []
    original = CorrPyramid.sample

    def recording_sample(self, targets, coords):
        seen.append(coords.requires_grad)
        return original(self, targets, coords)

    monkeypatch.setattr(CorrPyramid, "sample", recording_sample)
    model = TrackPredictor(_tiny_cfg()).double().train()
    queries, fmaps = _inputs(seed=7)
    fmaps.requires_grad_(True)
    preds, vis, conf = model(queries, fmaps, iters=2, apply_sigmoid=False)
    loss = sum(p.sum() for p in preds) + vis.sum() + conf.sum()
    loss.backward()
    assert torch.isfinite(fmaps.grad).all() and fmaps.grad.abs().sum() > 0
    for name in ("corr_mlp.fc1.weight", "updateformer.flow_head.weight", "query_ref_token", "fmap_norm.weight"):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    # Every iteration starts from detached coordinates, while its own prediction keeps a graph.
    assert seen == [False, False]
    assert all(p.requires_grad for p in preds)


def test_bad_inputs_are_named():
    model = _tracker()
    queries, fmaps = _inputs()
    with pytest.raises(ValueError, match="query_points"):
        model(queries[0], fmaps)
    with pytest.raises(ValueError, match="fmaps must be"):
        model(queries, fmaps[:, :, :16])
    with pytest.raises(ValueError, match="batch"):
        model(queries.expand(2, -1, -1), fmaps)
    with pytest.raises(ValueError, match="too small"):
        model(queries, fmaps[..., :40, :])
    with pytest.raises(ValueError, match="iters"):
        model(queries, fmaps, iters=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        TrackPredictor(_tiny_cfg(features=30))
