"""`openvggt bench` on a tiny preset: a table and a JSON with one row per frame count."""

from __future__ import annotations

import json

from openvggt.cli import main
from openvggt.runtime import resolve_dtype


def test_bench_cli_writes_rows(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "--preset", "vggt-tiny", "--frames", "2,1", "--size", "28x42", "--dtype", "bf16",
                 "--repeat", "1", "--warmup", "0", "--json", str(out)])  # fmt: skip
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["frames"] for r in rows] == [1, 2] and all(r["ok"] and r["time_s"] > 0 for r in rows)
    assert "| 2 | 28x42 | bf16 | cpu |" in capsys.readouterr().out


def test_bench_cli_rejects_bad_sizes(capsys):
    assert main(["bench", "--preset", "vggt-tiny", "--size", "30x42"]) == 2
    assert "multiples of 14" in capsys.readouterr().err


def test_bench_cli_int8_and_auto(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "--preset", "vggt-tiny", "--frames", "1", "--size", "28x42", "--dtype", "int8",
                 "--repeat", "1", "--warmup", "1", "--json", str(out)])  # fmt: skip
    assert code == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["dtype"] == "int8" and row["first_call_s"] > 0 and not row["compile"]
    assert main(["bench", "--preset", "vggt-tiny", "--frames", "1", "--size", "28x42", "--repeat", "1",
                 "--warmup", "0"]) == 0  # fmt: skip
    auto = resolve_dtype("auto", "cpu")  # fp32 or bf16, by this CPU's capability
    assert f"| 1 | 28x42 | {auto} | cpu |" in capsys.readouterr().out


def test_bench_cli_rejects_bad_dtype(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["bench", "--preset", "vggt-tiny", "--dtype", "int4"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
