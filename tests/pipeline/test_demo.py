"""``openvggt demo`` runs the reconstruction on the bundled example images."""

from __future__ import annotations

import argparse

import pytest

from openvggt.demo import example_images
from openvggt.pipeline.reconstruct import reconstruct_cli_demo

pytest.importorskip("pycolmap")


def test_demo_reconstructs_the_examples_and_prints_the_report(tmp_path, tiny_weights, capsys):
    paths = example_images()
    assert len(paths) >= 2
    args = argparse.Namespace(weights=str(tiny_weights), out=str(tmp_path / "demo"), device="cpu", size=224)
    assert reconstruct_cli_demo(paths[:2], args) == 0
    text = capsys.readouterr().out
    assert f"report: {tmp_path / 'demo' / 'report.html'}" in text
    assert (tmp_path / "demo" / "report.html").is_file() and (tmp_path / "demo" / "sparse" / "0").is_dir()
    # a second run replaces the previous demo output instead of refusing
    assert reconstruct_cli_demo(paths[:2], args) == 0
