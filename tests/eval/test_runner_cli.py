"""``openvggt eval``: bad input gives one line and exit code 2; a good run writes JSON, markdown, PNG."""

from __future__ import annotations

import json

import pytest

from openvggt.cli import main
from tests.eval.helpers import tiny_synthetic_scene, tiny_weights


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return tiny_synthetic_scene(root / "scenes"), tiny_weights(root / "tiny.safetensors")


def _error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_missing_scene_folder(tmp_path, capsys):
    line = _error_line(
        capsys, ["eval", str(tmp_path / "nope"), "--method", "colmap", "--json", str(tmp_path / "o.json")]
    )
    assert str(tmp_path / "nope") in line
    assert not (tmp_path / "o.json").exists()


def test_scene_without_cameras_json(tmp_path, capsys):
    (tmp_path / "scene" / "images").mkdir(parents=True)
    line = _error_line(
        capsys, ["eval", str(tmp_path / "scene"), "--method", "colmap", "--json", str(tmp_path / "o.json")]
    )
    assert "cameras.json" in line and str(tmp_path / "scene") in line


def test_broken_cameras_json(tmp_path, capsys):
    (tmp_path / "scene").mkdir()
    (tmp_path / "scene" / "cameras.json").write_text("{not json")
    line = _error_line(
        capsys, ["eval", str(tmp_path / "scene"), "--method", "colmap", "--json", str(tmp_path / "o.json")]
    )
    assert "invalid JSON" in line


def test_no_scenes_at_all(tmp_path, capsys):
    line = _error_line(capsys, ["eval", "--method", "colmap", "--json", str(tmp_path / "o.json")])
    assert "--suite" in line


def test_missing_weights(setup, tmp_path, capsys):
    scene_dir, _ = setup
    argv = ["eval", str(scene_dir), "--weights", str(tmp_path / "none.safetensors"), "--json", str(tmp_path / "o.json")]
    assert "none.safetensors" in _error_line(capsys, argv)


def test_ba_needs_pipeline_and_a_track_head(setup, tmp_path, capsys):
    scene_dir, weights = setup  # these weights have no track head
    argv = ["eval", str(scene_dir), "--weights", str(weights), "--ba", "--json", str(tmp_path / "o.json")]
    line = _error_line(capsys, argv)
    assert "no track head" in line and "--ba" in line


def test_bad_suite_root(tmp_path, capsys):
    argv = ["eval", "--suite", "real", "--scenes-root", str(tmp_path / "x"), "--json", str(tmp_path / "o.json")]
    assert str(tmp_path / "x") in _error_line(capsys, argv)


def test_vggt_run_writes_json_markdown_and_plot(setup, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    scene_dir, weights = setup
    out = tmp_path / "out"
    argv = ["eval", str(scene_dir), "--method", "vggt", "--weights", str(weights), "--size", "56", "--dtype", "fp32"]
    argv += ["--json", str(out / "r.json"), "--md", str(out / "r.md"), "--plots", str(out / "plots")]
    assert main(argv) == 0
    report = json.loads((out / "r.json").read_text())
    assert set(report) == {"results", "summary"}
    (row,) = report["results"]
    for key in ("scene", "method", "frames", "registered", "auc30", "auc5", "auc3", "rra15", "rta15", "time_s"):
        assert key in row
    assert row["method"] == "vggt" and row["frames"] == 4 and "depth_abs_rel" in row
    assert report["summary"]["vggt"]["scenes"] == 1
    assert {"date", "machine", "command"} <= set(report["summary"]["meta"])
    md = (out / "r.md").read_text()
    assert row["scene"] in md and "AUC@30" in md
    png = (out / "plots" / "eval.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "| vggt |" in capsys.readouterr().out


def test_two_colmap_mappers_in_one_report(tmp_path, capsys):
    pytest.importorskip("pycolmap")
    from tests.conftest import shared_path
    from tests.eval.helpers import downscaled_real_scene

    scene = downscaled_real_scene(shared_path("scenes", "Herz-Jesus-P8"), tmp_path / "hj4", [0, 1, 2, 3], 320)
    argv = ["eval", str(scene), "--method", "colmap", "--method", "colmap-global", "--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [r["method"] for r in report["results"]] == ["colmap", "colmap-global"]
    assert {"colmap", "colmap-global", "meta"} == set(report["summary"])
    assert all(r["registered"] == 4 and r["auc30"] > 80 for r in report["results"])
