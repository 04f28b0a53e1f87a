"""Re-running steps on a finished folder: ``openvggt export`` and ``openvggt ba`` (no model for export)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openvggt.cli import main
from openvggt.errors import InputError
from openvggt.pipeline.reconstruct import reconstruct
from openvggt.pipeline.saved import export, load_run, rebundle
from tests.pipeline.conftest import SIZE


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("saved")
    from PIL import Image

    from tests.pipeline.conftest import textured

    images = root / "imgs"
    images.mkdir()
    for i in range(3):
        Image.fromarray(textured(196, 140, seed=i)).save(images / f"frame_{i}.jpg", quality=95)
    with_ba = reconstruct([images], model=tiny_model, size=SIZE, ba=True, dtype="fp32")
    with_ba.save(root / "ba")
    plain = reconstruct([images], model=tiny_model, size=SIZE, dtype="fp32")
    plain.save(root / "plain")
    return root, with_ba, plain


def test_load_run_restores_the_steps_inputs(runs):
    root, with_ba, _ = runs
    run = load_run(root / "ba")
    assert [f.name for f in run.frames] == with_ba.names
    assert run.metas == with_ba.metas
    np.testing.assert_array_equal(run.images_u8, with_ba.images)
    np.testing.assert_array_equal(run.raw.pose_enc, with_ba.pose_enc)
    assert run.options.ba and run.tracks is not None
    np.testing.assert_array_equal(run.tracks.xy, with_ba.tracks.xy)
    np.testing.assert_allclose(run.tracks.query_xy, with_ba.tracks.query_xy, atol=1e-4)


def test_export_reproduces_the_run_and_applies_new_filters(runs):
    root, with_ba, _ = runs
    same = export(root / "ba")
    np.testing.assert_allclose(same.extrinsics, with_ba.extrinsics, atol=1e-9)
    np.testing.assert_allclose(same.intrinsics, with_ba.intrinsics, atol=1e-9)
    np.testing.assert_array_equal(same.points, with_ba.points)
    assert same.colmap.num_points == with_ba.colmap.num_points
    stricter = export(root / "ba", conf_threshold=90.0)
    assert 0 < len(stricter.points) < len(with_ba.points)
    predicted = export(root / "ba", ba=False)
    np.testing.assert_allclose(predicted.extrinsics, with_ba.extrinsics_pred, atol=1e-9)


def test_rebundle_uses_saved_tracks_and_refuses_without_any(runs):
    root, with_ba, plain = runs
    again = rebundle(root / "ba")
    np.testing.assert_allclose(again.extrinsics, with_ba.extrinsics, atol=1e-9)
    with pytest.raises(InputError, match="no saved tracks"):
        rebundle(root / "plain")


def test_rebundle_tracks_again_with_weights(runs, tiny_weights):
    root, with_ba, _ = runs
    rec = rebundle(root / "plain", weights=str(tiny_weights), dtype="fp32")
    assert rec.tracks is not None and rec.options.ba
    np.testing.assert_allclose(rec.tracks.xy, with_ba.tracks.xy, atol=1e-3)  # same images, same model


def test_cli_export_and_ba(runs, tmp_path, capsys, tiny_weights):
    root, *_ = runs
    assert main(["export", str(root / "ba"), "--out", str(tmp_path / "e"), "--conf-threshold", "80"]) == 0
    summary = json.loads((tmp_path / "e" / "run.json").read_text())
    assert summary["options"]["conf_threshold"] == 80.0
    assert (tmp_path / "e" / "sparse" / "0" / "images.bin").is_file() and (tmp_path / "e" / "points.ply").is_file()
    assert main(["ba", str(root / "ba"), "--out", str(tmp_path / "b"), "--max-reproj-error", "2"]) == 0
    summary = json.loads((tmp_path / "b" / "run.json").read_text())
    assert summary["options"]["ba_options"]["max_reproj_error"] == 2.0
    assert summary["bundle_adjustment"] is not None
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{root}/ba"], "exists; pass --overwrite"),
        (["export", "{tmp}"], "not a reconstruct output folder"),
        (["ba", "{root}/plain", "--out", "{tmp}/x"], "no saved tracks"),
    ],
)
def test_cli_bad_input_is_one_line(runs, tmp_path, capsys, argv, message):
    root, *_ = runs
    argv = [a.format(root=root, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()
