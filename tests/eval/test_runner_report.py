"""Report writers and suites."""

from __future__ import annotations

import json
import math

import pytest

from openvggt.eval.report import markdown_table, write_json
from openvggt.eval.runner import summarize
from openvggt.eval.suites import SUITES, real_scenes_root, suite_scenes
from tests.conftest import shared_path


def _row(scene, method, auc30, unsigned, **extra):
    base = {"scene": scene, "method": method, "frames": 4, "registered": 3, "auc5": 10.0, "auc3": 5.0}
    base.update(rra15=50.0, rta15=50.0, time_s=2.0, auc30=auc30, auc30_unsigned=unsigned)
    return {**base, **extra}


def _report(rows):
    return {"results": rows, "summary": {**summarize(rows), "meta": {"command": "x"}}}


def test_markdown_shows_unsigned_column_only_when_it_differs():
    same = markdown_table(_report([_row("a", "colmap", 80.0, 80.0)]))
    assert "unsigned" not in same
    differ = markdown_table(_report([_row("a", "colmap", 80.0, 80.0), _row("b", "vggt", 40.0, 90.0)]))
    header = differ.splitlines()[0]
    assert "AUC@30 unsigned" in header
    line_b = next(line for line in differ.splitlines() if line.startswith("| b |"))
    assert "| 40.0 | 90.0 |" in line_b and "3 of 4" in line_b


def test_markdown_has_a_mean_line_per_method_and_dense_columns_when_present():
    rows = [_row("a", "colmap", 80.0, 80.0, depth_abs_rel=0.25), _row("b", "colmap", 60.0, 60.0)]
    table = markdown_table(_report(rows))
    assert "depth AbsRel" in table and "| – |" in table  # scene b has no depth: a dash, not 0
    mean = next(line for line in table.splitlines() if "mean of 2" in line)
    assert "| 70.0 |" in mean and "6 of 8" in mean and "4.0 total" in mean


def test_markdown_lists_every_run_when_repeated():
    table = markdown_table(_report([_row("a", "colmap", 60.0, 60.0, auc30_runs=[58.25, 60.0, 71.0])]))
    assert "AUC@30 of each run" in table.splitlines()[0]
    assert "| 58.2 / 60.0 / 71.0 |" in table


def test_json_writes_nan_as_null(tmp_path):
    report = _report([_row("a", "colmap", float("nan"), 1.0)])
    path = write_json(report, tmp_path / "sub" / "r.json")
    loaded = json.loads(path.read_text())
    assert loaded["results"][0]["auc30"] is None
    assert loaded["summary"]["colmap"]["mean_auc30"] is None
    assert not math.isnan(loaded["results"][0]["auc30_unsigned"])


def test_real_suite_lists_every_shared_scene():
    root = shared_path("scenes")
    scenes = suite_scenes("real", root)
    assert [p.name for p in scenes] == sorted(p.name for p in root.iterdir() if (p / "cameras.json").is_file())
    assert len(scenes) >= 4
    assert real_scenes_root(root) == root


def test_synthetic_test_suite_is_the_heldout_seed_and_is_cached(tmp_path):
    from openvggt.data.synth.synthetic import TEST_SEED

    first = suite_scenes("synthetic-test", cache_dir=tmp_path, num_synthetic=1)
    assert len(first) == 1 and first[0].name.startswith(f"seed{TEST_SEED}_00000_")
    stamp = (first[0] / "cameras.json").stat().st_mtime_ns
    assert suite_scenes("synthetic-test", cache_dir=tmp_path, num_synthetic=1) == first
    assert (first[0] / "cameras.json").stat().st_mtime_ns == stamp  # reused, not re-rendered


def test_unknown_suite_and_bad_counts():
    assert SUITES == ("real", "synthetic-test")
    with pytest.raises(ValueError, match="unknown suite"):
        suite_scenes("imaginary")
    with pytest.raises(ValueError, match="at least one"):
        suite_scenes("synthetic-test", num_synthetic=0)
