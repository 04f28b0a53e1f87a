"""Bad input to ``openvggt reconstruct``: a clear one-line error naming the file and exit code 2,
or correct handling; outputs written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openvggt.cli import main
from openvggt.pipeline import inputs as inputs_mod
from tests.conftest import shared_path
from tests.pipeline.conftest import SIZE, textured


def _run(inputs, out: Path, weights: Path, *extra: str) -> int:
    args = ["reconstruct", *map(str, inputs), "--out", str(out), "--weights", str(weights), "--size", str(SIZE)]
    return main([*args, *extra])


def _one_line_error(capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _nothing_left(parent: Path, name: str) -> None:
    assert not (parent / name).exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def _save(path: Path, w: int, h: int, seed: int = 0, **kwargs) -> Path:
    Image.fromarray(textured(w, h, seed)).save(path, **kwargs)
    return path


@pytest.mark.parametrize("case", ["empty", "missing", "corrupt", "truncated", "video"])
def test_unusable_input_fails_in_one_line(case, tmp_path, tiny_weights, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    if case == "empty":
        target, fragment = folder, "no images in this folder"
    elif case == "missing":
        target, fragment = tmp_path / "nothing-here", "no such file or folder"
    elif case == "corrupt":
        _save(folder / "ok.jpg", 196, 140)
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        target, fragment = folder, "broken.jpg"
    elif case == "truncated":
        data = _save(folder / "full.png", 400, 300).read_bytes()
        (folder / "full.png").write_bytes(data[: len(data) // 2])
        _save(folder / "ok.jpg", 196, 140)
        target, fragment = folder, "full.png"
    else:
        (folder / "clip.mp4").write_bytes(b"\x00garbage" * 200)
        target, fragment = folder / "clip.mp4", "clip.mp4: cannot decode video"
    assert _run([target], tmp_path / "out", tiny_weights) == 2
    _one_line_error(capsys, fragment)
    _nothing_left(tmp_path, "out")


def test_missing_default_weights_is_one_line(tmp_path, image_folder, monkeypatch, capsys):
    from openvggt.models import pretrained

    monkeypatch.setattr(pretrained, "DEFAULT_WEIGHTS", tmp_path / "gone.safetensors")
    assert main(["reconstruct", str(image_folder), "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "default model is missing", "gone.safetensors")


def test_existing_output_needs_overwrite(tmp_path, image_folder, tiny_weights, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert _run([image_folder], out, tiny_weights) == 2
    _one_line_error(capsys, "exists; pass --overwrite")
    assert (out / "mine.txt").read_text() == "keep me"
    assert _run([image_folder], out, tiny_weights, "--overwrite") == 0
    assert not (out / "mine.txt").exists() and (out / "sparse" / "0" / "images.bin").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_or_interrupted_write_leaves_nothing(failure, tmp_path, image_folder, tiny_weights, monkeypatch):
    from openvggt.pipeline import outputs

    def explode(*args, **kwargs):
        raise failure

    monkeypatch.setattr(outputs, "write_report", explode)
    out = tmp_path / "out"
    if isinstance(failure, KeyboardInterrupt):
        assert _run([image_folder], out, tiny_weights) == 130
    else:
        with pytest.raises(RuntimeError, match="disk full"):
            _run([image_folder], out, tiny_weights)
    _nothing_left(tmp_path, "out")


def test_non_image_files_are_skipped(tmp_path, image_folder, tiny_weights, caplog):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    (image_folder / "notes.txt").write_text("x")
    (image_folder / "data.npy").write_bytes(b"\x93NUMPY")
    out = tmp_path / "out"
    assert _run([image_folder], out, tiny_weights) == 0
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert sorted(i.name for i in model.images.values()) == ["frame_0.jpg", "frame_1.jpg", "frame_2.jpg"]
    assert "skipping 2 non-image file(s) (data.npy, notes.txt)" in caplog.text


def test_single_image_reconstructs_and_ba_says_why_it_is_skipped(tmp_path, tiny_weights, capsys):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    image = _save(tmp_path / "solo.jpg", 196, 140)
    out = tmp_path / "out"
    assert _run([image], out, tiny_weights, "--ba") == 0
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert model.num_reg_images() == 1 and model.num_points3D() > 0
    assert "bundle adjustment skipped: bundle adjustment needs at least 2 images" in capsys.readouterr().out


def test_mixed_sizes_and_orientations(tmp_path, tiny_weights):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    folder = tmp_path / "mixed"
    folder.mkdir()
    sizes = {"a_land.jpg": (196, 140), "b_port.jpg": (140, 196), "c_square.png": (160, 160), "d_big.jpg": (392, 280)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        _save(folder / name, w, h, seed=i)
    for mode in ("pad", "crop"):
        out = tmp_path / mode
        assert _run([folder], out, tiny_weights, "--mode", mode) == 0
        model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
        for image in model.images.values():
            cam = model.cameras[image.camera_id]
            assert (cam.width, cam.height) == sizes[image.name]
            np.testing.assert_allclose([cam.principal_point_x, cam.principal_point_y], np.array(sizes[image.name]) / 2)


def test_rgba_grey_16bit_and_exif_rotated(tmp_path, tiny_weights):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    folder = tmp_path / "odd"
    folder.mkdir()
    Image.fromarray(np.dstack([textured(196, 140), np.full((140, 196), 200, np.uint8)]), "RGBA").save(
        folder / "rgba.png"
    )
    Image.fromarray(textured(196, 140, 1)[..., 0]).save(folder / "grey.png")
    Image.fromarray(textured(196, 140, 2)[..., 0].astype(np.uint16) * 257).save(folder / "deep.png")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored 196x140, displayed 140x196
    _save(folder / "rotated.jpg", 196, 140, seed=3, exif=exif)
    out = tmp_path / "out"
    assert _run([folder], out, tiny_weights, "--mode", "pad") == 0
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    sizes = {img.name: (model.cameras[img.camera_id].width, model.cameras[img.camera_id].height)
             for img in model.images.values()}  # fmt: skip
    assert sizes == {"rgba.png": (196, 140), "grey.png": (196, 140), "deep.png": (196, 140), "rotated.jpg": (140, 196)}
    with Image.open(out / "images" / "rotated.jpg") as copied:  # stored upright, as COLMAP will read it
        assert copied.size == (140, 196) and int(copied.getexif().get(0x0112, 1)) == 1
    assert (out / "images" / "deep.png").read_bytes() == (folder / "deep.png").read_bytes()


def test_very_large_image_is_downscaled_before_loading(tmp_path, tiny_weights, monkeypatch):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    monkeypatch.setattr(inputs_mod, "LARGE_IMAGE_PIXELS", 200_000)
    big = _save(tmp_path / "big.jpg", 1400, 1000, quality=90)
    small = _save(tmp_path / "small.jpg", 196, 140, seed=1)
    out = tmp_path / "out"
    assert _run([big, small], out, tiny_weights) == 0
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    cam = model.cameras[model.find_image_with_name("big.jpg").camera_id]
    assert (cam.width, cam.height) == (1400, 1000)
    np.testing.assert_allclose([cam.principal_point_x, cam.principal_point_y], [700, 500])


def test_video_input(tmp_path, tiny_weights):
    pycolmap = pytest.importorskip("pycolmap")  # reads the written model back
    from tests.pipeline.test_inputs import _write_video

    video = tmp_path / "walk.mp4"
    _write_video(video, frames=10, size=(192, 144))
    out = tmp_path / "out"
    assert _run([video], out, tiny_weights, "--max-frames", "3") == 0
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert sorted(i.name for i in model.images.values()) == ["walk_00000.jpg", "walk_00001.jpg", "walk_00002.jpg"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["walk_00000.jpg", "walk_00001.jpg", "walk_00002.jpg"]


def test_bad_reference_fails_before_the_model_runs(tmp_path, image_folder, capsys):
    weights = tmp_path / "never-read.safetensors"  # would fail if the model were loaded first
    assert _run([image_folder], tmp_path / "out", weights, "--reference", str(tmp_path / "none.json")) == 2
    _one_line_error(capsys, "none.json: no such file")
    other = shared_path("scenes", "fountain-P11", "cameras.json")
    assert _run([image_folder], tmp_path / "out", weights, "--reference", str(other)) == 2
    _one_line_error(capsys, "none of its frames are among the input images")
    _nothing_left(tmp_path, "out")


def test_sigterm_becomes_an_interrupt_so_partial_outputs_are_removed(tmp_path):
    import os
    import signal

    from openvggt.pipeline.cli import _terminate_as_interrupt
    from openvggt.pipeline.outputs import atomic_dir

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt(), atomic_dir(tmp_path / "out", False) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        os.kill(os.getpid(), signal.SIGTERM)
    _nothing_left(tmp_path, "out")
    assert signal.getsignal(signal.SIGTERM) is previous  # the previous handler is restored
