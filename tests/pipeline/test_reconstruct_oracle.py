"""The reconstruction pipeline's conventions, checked with an oracle in place of the network.

The model's outputs are replaced by the reference cameras of a real scene (encoded exactly as the
camera head would predict them at the model's input resolution) and its tracks by projections of
known 3D points. Everything downstream is the real pipeline: decoding, rescaling intrinsics to the
original resolution, track coordinates, triangulation, bundle adjustment, the COLMAP writer and
the comparison against ``cameras.json``. Any convention slip (half pixels, crop offsets, scale
factors, world-to-camera inversions) shows up as a non-zero reprojection error or a lost AUC.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from openvggt.geometry import extri_intri_to_pose_encoding
from openvggt.pipeline.evaluate import load_reference
from openvggt.pipeline.inputs import collect_inputs, load_frames
from openvggt.pipeline.reconstruct import reconstruct
from openvggt.pipeline.tracking import Tracks
from openvggt.predictor import PredictorOutput
from tests.conftest import shared_path

SIZE = 224
# the module, not the function that openvggt.pipeline re-exports under the same name
reconstruct_module = importlib.import_module("openvggt.pipeline.reconstruct")


def _orthonormal(r: np.ndarray) -> np.ndarray:
    """The rotation nearest to ``r`` (the json's six decimals are not exactly orthonormal)."""
    u, _, vt = np.linalg.svd(r)
    return u @ vt


def _scene_point(extrinsics: np.ndarray) -> np.ndarray:
    """The point closest (least squares) to every camera's optical axis: where the cameras look."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    for e in extrinsics:
        centre, axis = -e[:, :3].T @ e[:, 3], e[2, :3]
        proj = np.eye(3) - np.outer(axis, axis)
        a += proj
        b += proj @ centre
    return np.linalg.solve(a, b)


class Oracle:
    """Replaces the predictor and the track head with the scene's reference geometry."""

    def __init__(self, cameras_json, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ref = load_reference(cameras_json)
        self.extrinsics = np.stack([np.concatenate([_orthonormal(f["R"]), f["t"][:, None]], 1) for f in self.ref])
        self.target = _scene_point(self.extrinsics)
        self.rng = np.random.default_rng(0)
        predictor = SimpleNamespace(size=SIZE, device="cpu", dtype="fp32")
        monkeypatch.setattr(reconstruct_module, "load_predictor", lambda *args, **kwargs: predictor)
        monkeypatch.setattr(reconstruct_module, "predict", self.predict)
        monkeypatch.setattr(reconstruct_module, "feature_maps", lambda predictor, inter: torch.zeros(1, 1))
        monkeypatch.setattr(reconstruct_module, "track_queries", self.track_queries)

    def k_model(self, hw: tuple[int, int]) -> np.ndarray:
        """Reference intrinsics seen in the model input, principal point at the centre as VGGT predicts."""
        k = np.stack([m.affine() @ f["K"] for m, f in zip(self.metas, self.ref)])
        k[:, 0, 2], k[:, 1, 2] = hw[1] / 2, hw[0] / 2
        return k

    def predict(self, predictor, images, options) -> PredictorOutput:  # noqa: ANN001
        hw = tuple(images.shape[-2:])
        s = images.shape[0]
        self.hw = hw
        pose_enc = extri_intri_to_pose_encoding(
            torch.from_numpy(self.extrinsics), torch.from_numpy(self.k_model(hw)), hw
        )
        return PredictorOutput(
            pose_enc=pose_enc[None],
            depth=torch.full((1, s, *hw, 1), 7.0, dtype=torch.float64),
            depth_conf=torch.from_numpy(1 + self.rng.random((1, s, *hw))),
        )

    def track_queries(self, predictor, fmaps, query_frame, query_xy, iters=None, chunk=1024) -> Tracks:  # noqa: ANN001
        k = self.k_model(self.hw)
        e = self.extrinsics
        # lift each query (pixel centres at integers) onto a surface around the scene centre
        depth_q = np.array([(e[f, :, :3] @ self.target + e[f, :, 3])[2] for f in query_frame])
        depth_q = depth_q * self.rng.uniform(0.85, 1.15, len(query_frame))
        pix = np.concatenate([query_xy + 0.5, np.ones((len(query_xy), 1))], 1)
        cam = np.einsum("nij,nj->ni", np.linalg.inv(k[query_frame]), pix) * depth_q[:, None]
        rot, trans = e[query_frame, :, :3], e[query_frame, :, 3]
        world = np.einsum("nji,nj->ni", rot, cam - trans)
        cam_all = np.einsum("sij,nj->sni", e[:, :, :3], world) + e[:, None, :, 3]
        px = cam_all[..., :2] / cam_all[..., 2:] * k[:, None, [0, 1], [0, 1]] + k[:, None, :2, 2] - 0.5
        h, w = self.hw
        vis = (cam_all[..., 2] > 0) & (px[..., 0] > 0) & (px[..., 0] < w - 1) & (px[..., 1] > 0) & (px[..., 1] < h - 1)
        return Tracks(px, vis.astype(np.float32), np.ones_like(vis, np.float32), query_frame, query_xy)


@pytest.fixture
def fountain(monkeypatch):
    scene = shared_path("scenes", "fountain-P11")
    oracle = Oracle(scene / "cameras.json", monkeypatch)
    _, oracle.metas = load_frames(collect_inputs([scene / "images"]), "crop", SIZE)
    return scene, oracle


def _project(rec_pycolmap, image) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(observed, reprojected) pixels of an image's triangulated 2D points, from the files alone."""
    pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
    k = rec_pycolmap.cameras[image.camera_id].calibration_matrix()
    obs, proj = [], []
    for p in image.points2D:
        if p.has_point3D():
            x = pose.matrix() @ np.append(rec_pycolmap.points3D[p.point3D_id].xyz, 1.0)
            proj.append((k @ x)[:2] / x[2])
            obs.append(p.xy)
    return np.array(obs), np.array(proj)


@pytest.mark.parametrize("ba", [False, True])
def test_reference_cameras_survive_the_pipeline(fountain, tmp_path, ba):
    pycolmap = pytest.importorskip("pycolmap")
    scene, oracle = fountain
    rec = reconstruct([scene / "images"], size=SIZE, ba=ba, cameras="head", reference=scene / "cameras.json")
    assert rec.reference["auc30"] == pytest.approx(100.0) and rec.reference["auc3"] == pytest.approx(100.0)
    assert rec.reference["focal_rel_err_median"] < 1e-5  # focal lengths are in ORIGINAL pixels
    for k, meta in zip(rec.intrinsics, rec.metas):  # principal point: the centre of the original image
        np.testing.assert_allclose(k[:2, 2], np.array(meta.original_size) / 2, atol=1e-6)
    if ba:
        assert rec.ba is not None, rec.ba_skipped
        assert rec.ba.error_before < 1e-6 and rec.ba.error_after < 1e-4
        assert len(rec.ba.points) > 500 and rec.colmap.num_points == len(rec.ba.points)
    out = rec.save(tmp_path / "out")
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert sorted(img.name for img in model.images.values()) == [f"{i:04d}.jpg" for i in range(11)]
    for image in model.images.values():
        obs, proj = _project(model, image)
        assert len(obs) > 0
        # observations written in the convention of the written cameras (in-image, corner origin)
        np.testing.assert_allclose(proj, obs, atol=1e-3)
        cam = model.cameras[image.camera_id]
        assert (obs[:, 0] >= 0).all() and (obs[:, 0] <= cam.width).all() and (obs[:, 1] <= cam.height).all()
    page = (out / "report.html").read_text()
    assert "Cameras against the reference" in page and ("<h2>Bundle adjustment</h2>" in page) == ba
    track_lengths = [p.track.length() for p in model.points3D.values()]
    assert (min(track_lengths) >= 3) if ba else (max(track_lengths) == 1)


def test_shared_simple_pinhole_camera(fountain):
    scene, _ = fountain
    rec = reconstruct([scene / "images"], size=SIZE, cameras="head", shared_camera=True, camera_model="SIMPLE_PINHOLE")
    assert len(rec.colmap.cameras) == 1 and rec.colmap.cameras[0].model == "SIMPLE_PINHOLE"
    np.testing.assert_allclose(rec.intrinsics, rec.intrinsics[:1].repeat(len(rec.intrinsics), 0))
    assert rec.intrinsics[0, 0, 0] == rec.intrinsics[0, 1, 1]
