"""``openvggt demo`` runs the reconstruction on the bundled example images."""

from __future__ import annotations

import argparse

from openvggt import demo
from openvggt.demo import example_images


def test_demo_reconstructs_the_examples_and_prints_the_report(tmp_path, tiny_weights, capsys, monkeypatch):
    paths = example_images()
    assert len(paths) >= 2
    monkeypatch.setattr(demo, "example_images", lambda: paths[:2])
    args = argparse.Namespace(weights=str(tiny_weights), out=str(tmp_path / "demo"), device="cpu", dtype="fp32")
    assert demo.run(args) == 0
    text = capsys.readouterr().out
    assert f"report: {tmp_path / 'demo' / 'report.html'}" in text
    assert (tmp_path / "demo" / "report.html").is_file() and (tmp_path / "demo" / "sparse" / "0").is_dir()
    # a second run replaces the previous demo output instead of refusing
    assert demo.run(args) == 0
