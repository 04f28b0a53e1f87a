"""``openvggt reconstruct`` in chunked mode: bad input gives one line and exit 2; a real run with a tiny model;
lazy frame sources."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from openvggt.cli import main
from openvggt.errors import InputError
from openvggt.longseq.source import VideoSource, open_source
from tests.pipeline.conftest import tiny_weights  # noqa: F401 - the fixture


def _folder(tmp_path, n=12, size=(84, 56)):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0] * 2, 3), np.uint8)
    for i in range(n):
        Image.fromarray(np.ascontiguousarray(base[:, i : i + size[0]])).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--chunk", "0"], "--chunk"),
        (["--chunk", "6", "--overlap", "6"], "smaller than --chunk"),
        (["--chunk", "6", "--overlap", "1"], "--overlap must be at least"),
        (["--merge-tokens", "1.5"], "--merge-tokens"),
        (["--max-memory", "-1"], "--max-memory"),
        (["--chunk", "6", "--ba"], "not available in chunked mode"),
        (["--chunk", "6", "--cameras", "matches"], "--cameras matches and --focal are not available in chunked mode"),
        (["--chunk", "6", "--focal", "500"], "--cameras matches and --focal are not available in chunked mode"),
    ],
)
def test_bad_long_sequence_flags_one_line(tmp_path, capsys, tiny_weights, extra, fragment):  # noqa: F811
    folder = _folder(tmp_path)
    code = main(
        [
            "reconstruct",
            str(folder),
            "--out",
            str(tmp_path / "out"),
            "--weights",
            str(tiny_weights),
            "--size",
            "84",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_input_one_line(tmp_path, capsys, tiny_weights):  # noqa: F811
    code = main(
        [
            "reconstruct",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "out"),
            "--chunk",
            "4",
            "--weights",
            str(tiny_weights),
        ]
    )
    assert code == 2 and "no such file" in capsys.readouterr().err


def test_chunked_cli_with_a_tiny_model(tmp_path, tiny_weights):  # noqa: F811
    pycolmap = pytest.importorskip("pycolmap")
    folder = _folder(tmp_path, n=14)
    out = tmp_path / "out"
    code = main(
        [
            "reconstruct",
            str(folder),
            "--out",
            str(out),
            "--weights",
            str(tiny_weights),
            "--size",
            "84",
            "--chunk",
            "6",
            "--overlap",
            "2",
            "--merge-tokens",
            "0.3",
            "--loop-closure",
        ]
    )
    assert code == 0
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert rec.num_reg_images() == 14
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(p.name for p in folder.iterdir())


def test_video_source_decodes_lazily_and_in_any_order(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            image = np.full((48, 64, 3), i * 12, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    source = VideoSource(path, cache=4)
    assert len(source) == 20 and source.names[3] == "clip_00003.jpg"
    later, earlier = source.image(15), source.image(2)  # backwards: re-opens
    assert abs(float(later.mean()) - 180) < 8 and abs(float(earlier.mean()) - 24) < 8
    assert len(source._cache) <= 4
    strided = open_source(path, stride=5)
    assert len(strided) == 4 and abs(float(strided.image(1).mean()) - 60) < 8
    with pytest.raises(InputError, match="one video or one folder"):
        open_source([path, path])
