"""`openvggt serve` on the command line: its options and its one-line errors."""

from __future__ import annotations

import pytest

from openvggt.cli import build_parser, main


def test_serve_parser_defaults_are_safe():
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.token is None and args.workers == 1 and args.queue == 8


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--ttl", "0"], "--ttl"),
        (["serve", "--max-files", "0"], "--max-* limits"),
        (["serve", "--weights", "/nonexistent/weights.safetensors"], ""),
    ],
)
def test_serve_bad_arguments_give_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and message in err
