"""``openvggt reconstruct`` end to end on a real scene with a random tiny model, with and without --ba.

With random weights the cameras are wrong; these tests check everything else: the files, that
COLMAP (pycolmap) and trimesh read them, that every image is registered under its own name with
intrinsics at the ORIGINAL resolution, and that the comparison with ``cameras.json`` runs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from openvggt.cli import main
from tests.conftest import shared_path
from tests.pipeline.conftest import SIZE

pycolmap = pytest.importorskip("pycolmap")
trimesh = pytest.importorskip("trimesh")

SCENE = "Herz-Jesus-P8"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_weights):
    scene = shared_path("scenes", SCENE)
    outs = {}
    for ba in (False, True):
        out = tmp_path_factory.mktemp("e2e") / ("ba" if ba else "plain")
        args = ["reconstruct", str(scene / "images"), "--out", str(out), "--weights", str(tiny_weights),
                "--size", str(SIZE), "--reference", str(scene / "cameras.json")]  # fmt: skip
        args += ["--ba", "--query-frames", "2", "--points-per-frame", "48"] if ba else []
        assert main(args) == 0
        outs[ba] = out
    return scene, outs


@pytest.mark.parametrize("ba", [False, True])
def test_outputs_exist_and_load(runs, ba):
    scene, outs = runs
    out = outs[ba]
    stems = [f"{i:04d}" for i in range(8)]
    for name in ["sparse/0/cameras.bin", "sparse/0/images.bin", "sparse/0/points3D.bin", "points.ply", "scene.glb",
                 "predictions.npz", "transforms.json", "report.html", "run.json", "depth/meta.json"]:  # fmt: skip
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{s}.jpg" for s in stems]
    assert not list(out.parent.glob(".*partial"))

    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert model.num_reg_images() == 8 and model.num_points3D() > 0
    assert sorted(img.name for img in model.images.values()) == [f"{s}.jpg" for s in stems]
    for cam in model.cameras.values():
        assert cam.model_name == "PINHOLE" and (cam.width, cam.height) == (1024, 683)  # original, not 224x154
        np.testing.assert_allclose([cam.principal_point_x, cam.principal_point_y], [512.0, 341.5], atol=1e-6)
        assert np.isfinite(cam.params).all() and cam.focal_length_x > 0
    colours = np.array([p.color for p in model.points3D.values()])
    assert colours.std() > 5  # coloured from the images, not a constant

    cloud = trimesh.load(out / "points.ply")
    pred = np.load(out / "predictions.npz")
    assert len(cloud.vertices) > 1000 and np.isfinite(cloud.vertices).all()
    assert pred["depth"].shape == (8, 154, 224, 1) and pred["extrinsic"].shape == (8, 3, 4)
    glb = trimesh.load(out / "scene.glb")
    assert sum(name.startswith("camera_") for name in glb.geometry) == 8 and "points" in glb.geometry

    meta = json.loads((out / "depth" / "meta.json").read_text())
    for stem in stems:
        d = np.load(out / "depth" / f"{stem}.npy")
        assert d.dtype == np.float32 and d.shape == (154, 224)
        assert np.load(out / "depth" / f"{stem}_conf.npy").shape == d.shape
        png = np.asarray(Image.open(out / "depth" / f"{stem}.png"))
        assert png.dtype == np.uint16
        np.testing.assert_allclose(png / meta["depth_scale"], d, atol=1.0 / meta["depth_scale"])

    transforms = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == [f"images/{s}.jpg" for s in stems]
    assert transforms["frames"][0]["w"] == 1024

    run = json.loads((out / "run.json").read_text())
    ref = run["reference"]
    assert ref["frames"] == 8 and ref["registered"] == 8 and 0.0 <= ref["auc30"] <= 100.0
    assert set(run["timings_s"]) >= {"load model", "inference", "write outputs", "report"}
    if ba:
        assert "tracking" in run["timings_s"] and run["bundle_adjustment"] is not None
        assert "skipped" in run["bundle_adjustment"] or "reprojection_error_after_px" in run["bundle_adjustment"]
        assert "track" in pred.files  # the tracks that fed the adjustment
    page = (out / "report.html").read_text()
    assert page.count('alt="depth"') == 8 and "Camera trajectory" in page and "AUC@30" in page


def test_reconstruct_prints_where_the_report_is(tmp_path, image_folder, tiny_weights, capsys):
    out = tmp_path / "o"
    assert main(["reconstruct", str(image_folder), "--out", str(out), "--weights", str(tiny_weights),
                 "--size", str(SIZE)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text and "inference" in text and "total" in text
