"""Tracking from any query frame, query files, and the ``openvggt track`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openvggt.cli import main
from openvggt.errors import InputError
from openvggt.pipeline.inputs import collect_inputs, load_frames
from openvggt.pipeline.queries import parse_queries, queries_to_model
from openvggt.pipeline.tracking import feature_maps, track_from_frame
from openvggt.predictor import Predictor
from tests.pipeline.conftest import SIZE, textured


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return Predictor(model=tiny_model, device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def fmaps_and_run(predictor):
    frames = [torch.from_numpy(textured(224, 154, seed=i).copy()).permute(2, 0, 1).float() / 255 for i in range(4)]
    inter = predictor(torch.stack(frames), heads=(), keep_intermediates=True).intermediates
    return feature_maps(predictor, inter), inter


def test_track_features_are_computed_per_frame(tiny_model, fmaps_and_run):
    fmaps, run = fmaps_and_run
    subset = {k: v[:, [2, 0]] for k, v in run.tokens.items()}  # run: the kept Intermediates
    with torch.inference_mode():
        part = tiny_model.track_head.feature_extractor(subset, run.image_hw, run.patch_start_idx)
    torch.testing.assert_close(part, fmaps[:, [2, 0]], atol=1e-5, rtol=1e-5)


def test_tracker_is_equivariant_to_the_order_of_non_query_frames(tiny_model, fmaps_and_run):
    fmaps, _ = fmaps_and_run
    q = torch.tensor([[[30.0, 40.0], [100.0, 70.0], [180.0, 120.0]]])
    order = [0, 3, 1, 2]
    with torch.inference_mode():
        coords, vis, conf = tiny_model.track_head.tracker(q, fmaps, iters=2)
        coords_p, vis_p, conf_p = tiny_model.track_head.tracker(q, fmaps[:, order], iters=2)
    torch.testing.assert_close(coords_p[-1], coords[-1][:, order], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(vis_p, vis[:, order], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(conf_p, conf[:, order], atol=1e-5, rtol=1e-5)


def test_tracking_from_any_frame(tiny_model, predictor, fmaps_and_run):
    fmaps, _ = fmaps_and_run
    q = torch.tensor([[50.0, 60.0], [150.0, 90.0]])
    with torch.inference_mode():
        official = tiny_model.track_head.tracker(q[None], fmaps, iters=2)
    xy0, vis0, _ = track_from_frame(predictor, fmaps, 0, q, iters=2)
    torch.testing.assert_close(xy0, official[0][-1][0], atol=1e-5, rtol=1e-5)  # frame 0: the official head
    torch.testing.assert_close(vis0, official[1][0], atol=1e-6, rtol=1e-6)
    xy2, vis2, conf2 = track_from_frame(predictor, fmaps, 2, q, iters=2)
    torch.testing.assert_close(xy2[2], q)  # the query frame holds the queries
    # the same as tracking with frame 2 first and the others in yet another order
    order = [2, 3, 1, 0]
    with torch.inference_mode():
        coords, vis, _ = tiny_model.track_head.tracker(q[None], fmaps[:, order], iters=2)
    back = np.argsort(order)
    torch.testing.assert_close(xy2, coords[-1][0][back], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(vis2, vis[0][back], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(xy2, xy0)  # a different query frame is a different problem


def test_query_files_text_and_json(tmp_path):
    names = ["a.jpg", "sub/b.png", "c.jpg"]
    text = tmp_path / "q.csv"
    text.write_text("frame,x,y\n# comment\n0, 10, 20\nb 1.5 2.5  # by stem\nc.jpg,3,4\n")
    np.testing.assert_array_equal(parse_queries(text, names), [[0, 10, 20], [1, 1.5, 2.5], [2, 3, 4]])
    js = tmp_path / "q.json"
    js.write_text(json.dumps({"queries": [[2, 1, 1], {"frame": "a", "x": 5, "y": 6}]}))
    np.testing.assert_array_equal(parse_queries(js, names), [[2, 1, 1], [0, 5, 6]])
    for content, message in [
        ("0 1\n", "expected 'frame x y'"),
        ("7 1 2\n", r"frame 7 is not in 0\.\.2"),
        ("zz 1 2\n", "no input image named 'zz'"),
        ("0 1 2\n1 x 2\n", "must be numbers"),
        ("# nothing\n", "no queries"),
    ]:
        text.write_text(content)
        with pytest.raises(InputError, match=message):
            parse_queries(text, names)


def test_queries_outside_the_image_or_the_crop_are_rejected(tmp_path):
    from PIL import Image

    Image.fromarray(textured(200, 300)).save(tmp_path / "tall.jpg")  # portrait: crop mode cuts rows
    frames = collect_inputs([tmp_path / "tall.jpg"])
    _, metas = load_frames(frames, "crop", SIZE)
    ok = queries_to_model(np.array([[0, 100.0, 150.0]]), metas, ["tall.jpg"])
    np.testing.assert_allclose(ok, [[(100.5) * SIZE / 200 - 0.5, (150.5) * SIZE / 200 - 0.5 - (336 - SIZE) / 2]])
    with pytest.raises(InputError, match=r"outside tall\.jpg \(200x300\)"):
        queries_to_model(np.array([[0, 250.0, 10.0]]), metas, ["tall.jpg"])
    with pytest.raises(InputError, match="cropped away by --mode crop"):
        queries_to_model(np.array([[0, 100.0, 5.0]]), metas, ["tall.jpg"])


def test_track_command_writes_tracks_and_overlays(tmp_path, image_folder, tiny_weights, capsys):
    queries = tmp_path / "q.txt"
    queries.write_text("0 20 30\n2 100 70\nframe_1 150.5 100\n")
    out = tmp_path / "tracks"
    rc = main(["track", str(image_folder), "--queries", str(queries), "--out", str(out),
               "--weights", str(tiny_weights), "--size", str(SIZE), "--iters", "2"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    data = np.load(out / "tracks.npz")
    assert data["tracks"].shape == (3, 3, 2) and data["vis"].shape == (3, 3)
    np.testing.assert_allclose(data["tracks"][[0, 2, 1], [0, 1, 2]], [[20, 30], [100, 70], [150.5, 100]])
    assert list(data["names"]) == ["frame_0.jpg", "frame_1.jpg", "frame_2.jpg"]
    doc = json.loads((out / "tracks.json").read_text())
    assert doc["tracks"][2]["query"] == {"frame": 1, "x": 150.5, "y": 100.0} and len(doc["tracks"][0]["points"]) == 3
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["frame_0.png", "frame_1.png", "frame_2.png"]
    assert "tracked 3 points through 3 frames" in capsys.readouterr().out


def test_track_raises_a_too_small_default_input_to_what_tracks_need(tiny_model, image_folder):
    """`openvggt track` with a model whose default width gives inputs under 128 px a side widens them."""
    from openvggt.pipeline.track import track_points

    result = track_points([image_folder], np.array([[0, 20.0, 30.0]]), predictor=Predictor(model=tiny_model, size=168))
    width, height = result.settings["model_size"]
    smaller, _ = load_frames(collect_inputs([image_folder])[:1], "crop", width - 14)
    assert min(width, height) >= 128 and min(smaller.shape[-2:]) < 128
