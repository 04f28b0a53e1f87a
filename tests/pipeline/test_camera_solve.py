"""Cameras solved from matches and depth (``reconstruct --cameras matches``): exact on exact matches, the camera
head's pose where matches cannot reach, SIFT on real photographs, and the ``auto`` choice of the pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from openvggt.data.dataset import SceneDataset
from openvggt.data.sample import SampleConfig
from openvggt.data.synth.synthetic import SynthConfig, generate_scene, write_scene
from openvggt.errors import InputError
from openvggt.io.images import ImageMeta
from openvggt.metrics.camera import camera_metrics
from openvggt.pipeline.camera_solve import (
    SolveOptions,
    _essential_pose,
    centred_k,
    chain_tracks,
    exif_focal,
    fundamentals,
    match_frames,
    pair_list,
    register_focal,
    self_calibrate,
    solve_cameras,
)
from openvggt.pipeline.frame import InputFrame
from openvggt.pipeline.reconstruct import reconstruct
from openvggt.pipeline.saved import export
from tests.conftest import shared_path

SIZE = 196


@pytest.fixture(scope="module")
def indoor(tmp_path_factory) -> dict:
    """An 8-frame indoor scene of the engine (real parallax) as a training sample: depth, cameras, world points."""
    root = tmp_path_factory.mktemp("solve_scene")
    write_scene(generate_scene(5, 1, SynthConfig(num_frames=8, size=SIZE, family="indoor")), root)
    cfg = SampleConfig(img_size=SIZE, min_height=SIZE, min_frames=8, max_frames=8, augment=False)
    sample = SceneDataset(sorted(root.iterdir()), cfg)[0]
    return {k: sample[k].double().numpy() for k in ("depths", "extrinsics", "intrinsics", "world_points")}


def _corner_k(k: np.ndarray) -> np.ndarray:
    """The sample's intrinsics (pixel centres at integers) with the corner of the image at (0, 0)."""
    k = k.copy()
    k[..., :2, 2] += 0.5
    return k


def _exact_pairs(scene: dict, step: int = 6) -> dict:
    """The engine's exact correspondences of a grid of pixels of frame i in frame j, for every solver pair."""
    depth, ext, world = scene["depths"], scene["extrinsics"], scene["world_points"]
    k = _corner_k(scene["intrinsics"])
    s, h, w = depth.shape
    vv, uu = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    pairs = {}
    for i, j in pair_list(s, 3):
        seen = depth[i, vv, uu] > 0
        pts = world[i, vv[seen], uu[seen]]  # frame 0's camera frame = world
        cam = pts @ ext[j, :, :3].T + ext[j, :, 3]
        xy = cam @ k[j].T
        xy = xy[:, :2] / xy[:, 2:]
        col, row = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
        inside = (cam[:, 2] > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        d = np.zeros(len(xy))
        d[inside] = depth[j, row[inside], col[inside]]
        visible = inside & (np.abs(d - cam[:, 2]) < 0.03 * cam[:, 2])
        here = np.c_[uu[seen], vv[seen]] + 0.5  # pixel centres, corner origin
        pairs[i, j] = (here[visible], xy[visible])
    return pairs


def _inputs(s: int, w: int, h: int) -> tuple[list[InputFrame], list[ImageMeta]]:
    frames = [InputFrame(name=f"{i}.png", source=f"<array #{i}>") for i in range(s)]
    metas = [ImageMeta(f"<array #{i}>", (w, h), (w, h), (w, h), (1.0, 1.0), (0.0, 0.0)) for i in range(s)]
    return frames, metas


def test_exact_matches_and_depth_give_the_cameras_and_the_focal_length(indoor) -> None:
    depth, gt = indoor["depths"], indoor["extrinsics"]
    s, h, w = depth.shape
    frames, metas = _inputs(s, w, h)
    k_head = np.tile(centred_k(0.5 * w, w, h), (s, 1, 1))  # a wrong focal length: it must not be used
    head = np.tile(np.eye(3, 4), (s, 1, 1))
    pairs = _exact_pairs(indoor)
    got = solve_cameras(frames, metas, depth, head, k_head, SolveOptions(), pairs=pairs)
    f_gt = indoor["intrinsics"][0, 0, 0]
    assert got.focal_source == "self-calibrated" and got.solved.all() and not got.notes
    assert abs(got.intrinsics[0, 0, 0] - f_gt) / f_gt < 0.03
    # the solve assumes the principal point at the centre; the engine's is ~1.5 px off it at 196 px, which costs
    # translation directions of the short baselines (|t| 0.02-0.13) a few degrees: RTA@5 ~70, AUC@30 ~88
    rot = np.einsum("sij,skj->sik", got.extrinsics[:, :, :3], gt[:, :, :3])
    angle = np.degrees(np.arccos(np.clip((np.trace(rot, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angle.max() < 1.5
    metrics = camera_metrics(got.extrinsics, gt)
    assert metrics["auc30"] > 85 and metrics["rra5"] == 100
    # the translations' lengths come from the depth, in its units: GT depth gives the GT translations (to 1.5 % of
    # the sample's scale, a mean point distance of 1; the same principal-point slip as above)
    np.testing.assert_allclose(got.extrinsics[:, :, 3], gt[:, :, 3], atol=0.015)
    twice = solve_cameras(frames, metas, 2 * depth, head, k_head, SolveOptions(), pairs=pairs)
    np.testing.assert_allclose(twice.extrinsics[:, :, 3], 2 * got.extrinsics[:, :, 3], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(twice.extrinsics[:, :, :3], got.extrinsics[:, :, :3], atol=1e-9)


def _orbit_pairs(f: float, w: int, h: int, s: int = 8, noise: float = 0.3) -> dict:
    """Matches (shared keypoints: a point's pixel in a frame is the same in all its pairs) of 800 points in a cube of
    side 2 seen by ``s`` cameras 6 away, all looking at its centre (an object captured on an orbit), ``noise`` px."""
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (800, 3))
    xy, seen = [], []
    for n in range(s):
        az, el = np.radians(10 * n), np.radians(15 + 10 * np.sin(n))
        centre = 6 * np.array([np.sin(az) * np.cos(el), -np.sin(el), -np.cos(az) * np.cos(el)])
        z = -centre / 6
        x = np.cross([0.0, -1.0, 0.0], z)
        x /= np.linalg.norm(x)
        rot = np.stack([x, np.cross(z, x), z])
        cam = (points - centre) @ rot.T
        uv = cam[:, :2] / cam[:, 2:] * f + [w / 2, h / 2] + rng.normal(0, noise, (len(points), 2))
        xy.append(uv)
        seen.append((cam[:, 2] > 0) & (uv >= 0).all(1) & (uv[:, 0] < w) & (uv[:, 1] < h))
    return {(i, j): (xy[i][seen[i] & seen[j]], xy[j][seen[i] & seen[j]]) for i, j in pair_list(s, 3)}


def test_an_orbit_around_an_object_gets_its_focal_length_from_three_views() -> None:
    # cameras that all look at one point are the degenerate case of two-view self-calibration: every pair's
    # fundamental matrix fits a range of focal lengths, and noise picks one far off (here ~10x); registering a
    # third view to a pair's triangulated points tells them apart (DTU, the Middlebury temple: training_study §20)
    w, h, f = 640, 480, 1194.0  # a 30-degree field of view
    pairs = _orbit_pairs(f, w, h)
    fits = fundamentals(pairs, 1.0, 20)
    two_view = self_calibrate(fits, w, h)
    assert two_view is None or abs(two_view - f) / f > 0.3  # the degeneracy is real in this scene
    got, score = register_focal(pairs, fits, (w, h), 1.0, 16, two_view)
    assert abs(got - f) / f < 0.05 and score > 0.2
    # a wide field of view (70 degrees) too; noise biases the score's peak low (here ~5 %; 0 % without noise)
    wide = _orbit_pairs(457.0, w, h)
    got_wide, _ = register_focal(wide, fundamentals(wide, 1.0, 20), (w, h), 1.0)
    assert abs(got_wide - 457.0) / 457.0 < 0.08
    exact = _orbit_pairs(457.0, w, h, noise=0.0)
    assert abs(register_focal(exact, fundamentals(exact, 1.0, 20), (w, h), 1.0)[0] - 457.0) / 457.0 < 0.025
    # without three frames linked by shared keypoints there is nothing to register
    assert register_focal({(0, 1): pairs[0, 1]}, fundamentals({(0, 1): pairs[0, 1]}), (w, h), 1.0) == (None, 0.0)


def test_two_frames_fall_back_to_the_two_view_focal_length(indoor) -> None:
    """No third view to register: the two-view estimate, exact here (indoor parallax, no fixation)."""
    depth = indoor["depths"][:2]
    _, h, w = depth.shape
    frames, metas = _inputs(2, w, h)
    pairs = {(0, 1): _exact_pairs(indoor)[0, 1]}
    head = np.tile(np.eye(3, 4), (2, 1, 1))
    got = solve_cameras(frames, metas, depth, head, np.tile(centred_k(0.5 * w, w, h), (2, 1, 1)), pairs=pairs)
    f_gt = indoor["intrinsics"][0, 0, 0]
    assert got.focal_source == "self-calibrated" and got.solved.all()
    assert abs(got.intrinsics[0, 0, 0] - f_gt) / f_gt < 0.03


def test_a_frame_no_pair_reaches_keeps_the_camera_head_pose(indoor) -> None:
    depth = indoor["depths"]
    s, h, w = depth.shape
    frames, metas = _inputs(s, w, h)
    head = np.tile(np.eye(3, 4), (s, 1, 1))
    head[3, :, 3] = [0.1, 0.2, 0.3]
    pairs = {p: v for p, v in _exact_pairs(indoor).items() if 3 not in p}
    k_head = np.tile(_corner_k(indoor["intrinsics"][0]), (s, 1, 1))
    got = solve_cameras(frames, metas, depth, head, k_head, SolveOptions(), pairs=pairs)
    assert not got.solved[3] and got.solved.sum() == s - 1
    np.testing.assert_array_equal(got.extrinsics[3], head[3])
    assert "3.png" in got.notes[-1] and got.parent[3] == -1
    # a pair the solver cannot use (too few matches) is no pair at all
    few = {p: (a[:4], b[:4]) for p, (a, b) in _exact_pairs(indoor).items()}
    alone = solve_cameras(frames, metas, depth, head, k_head, SolveOptions(), pairs=few)
    assert alone.solved.tolist() == [True] + [False] * (s - 1) and alone.focal_source == "camera head"


def test_the_cheirality_check_picks_the_pose_opencv_recover_pose_picks() -> None:
    """``_essential_pose``'s closed-form depths choose among the four decompositions as ``cv2.recoverPose`` does
    (same rotation and direction; the points in front may differ where a depth is ~0 or ~50 baselines)."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    differ = 0
    for _ in range(100):
        pts = np.c_[rng.uniform(-1, 1, (200, 2)), rng.uniform(2, 8, 200)]
        rot, t = cv2.Rodrigues(rng.normal(0, 0.3, 3))[0], rng.normal(0, 1, 3)
        in_b = pts @ rot.T + t
        keep = in_b[:, 2] > 0.1
        na, nb = pts[keep, :2] / pts[keep, 2:], in_b[keep, :2] / in_b[keep, 2:] + rng.normal(0, 1e-3, (keep.sum(), 2))
        nb[:20] = rng.uniform(-1, 1, (20, 2))  # outliers
        e_mat, mask = cv2.findEssentialMat(na, nb, np.eye(3), cv2.USAC_DEFAULT, 0.999, 2e-3, 1000)
        _, r_cv, t_cv, m_cv = cv2.recoverPose(e_mat[:3], na, nb, np.eye(3), mask=mask.copy())
        r_ours, t_ours, m_ours = _essential_pose(na, nb, 2e-3)
        np.testing.assert_allclose(r_ours, r_cv, atol=1e-12)
        np.testing.assert_allclose(t_ours, t_cv.ravel() / np.linalg.norm(t_cv), atol=1e-12)
        np.testing.assert_allclose(cv2.Rodrigues(r_ours.T @ rot)[0], 0, atol=0.05)  # and it is the true pose
        differ += int(((m_cv.ravel() > 0) != m_ours).sum())
    assert differ <= 3


def test_pair_list_links_every_frame_to_frame_0_and_its_predecessors() -> None:
    assert pair_list(1, 3) == []
    assert pair_list(5, 2) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]


def test_sift_matches_of_real_photographs_are_in_original_pixels() -> None:
    """Matched at a reduced size, the keypoints come back in the original images' pixels: the reference cameras
    put each match on its epipolar line there."""
    root = shared_path("scenes", "fountain-P11")
    paths = sorted((root / "images").iterdir())[:2]
    frames = [InputFrame(name=p.name, source=str(p), path=p) for p in paths]
    pairs, scales = match_frames(frames, SolveOptions(max_side=512))
    assert scales[0][0] < 1 and (0, 1) in pairs
    a, b = pairs[0, 1]
    ref = json.loads((root / "cameras.json").read_text())["frames"][:2]
    k = [np.array(f["K"]) for f in ref]
    r = np.array(ref[1]["R"]) @ np.array(ref[0]["R"]).T
    t = np.array(ref[1]["t"]) - r @ np.array(ref[0]["t"])
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    f_mat = np.linalg.inv(k[1]).T @ tx @ r @ np.linalg.inv(k[0])
    lines = np.c_[a, np.ones(len(a))] @ f_mat.T
    dist = np.abs((lines * np.c_[b, np.ones(len(b))]).sum(1)) / np.linalg.norm(lines[:, :2], axis=1)
    assert len(a) > 200 and np.median(dist) < 1.5  # original pixels of a 1024-px image matched at 512


def test_reconstruct_with_the_shipped_model_solves_its_cameras_from_matches(tmp_path) -> None:
    """``cameras="auto"`` with the default weights is the matches solve, and it is far above the camera head on a
    real scene (head: AUC@30 near 0); the saved run re-assembles to the same cameras."""
    root = shared_path("scenes", "fountain-P11")
    images = sorted((root / "images").iterdir())[:6]
    ref = json.loads((root / "cameras.json").read_text())["frames"][:6]
    gt = np.stack([np.c_[np.array(f["R"]), np.array(f["t"])] for f in ref])
    rec = reconstruct([str(p) for p in images], weights="default")
    assert rec.options.cameras == "matches" and rec.camera_solve is not None and rec.camera_solve.solved.all()
    auc = camera_metrics(rec.extrinsics, gt)["auc30"]
    assert auc > 80  # measured 2026-12-07: rotations within 3.1 degrees, translation directions within 1.7
    head = reconstruct([str(p) for p in images], weights="default", cameras="head")
    assert head.camera_solve is None and camera_metrics(head.extrinsics, gt)["auc30"] < auc - 40
    out = rec.save(tmp_path / "run")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "cameras from matches" in page and "Solved from SIFT matches" in page and "6 of 6" in page
    assert json.loads((out / "run.json").read_text())["cameras"]["focal_length"] == "self-calibrated"
    again = export(out)
    np.testing.assert_allclose(again.extrinsics, rec.extrinsics, atol=1e-6)
    with pytest.raises(InputError, match="--cameras"):
        reconstruct([str(p) for p in images], weights="default", cameras="colmap")


def test_an_exif_focal_length_comes_before_self_calibration(tmp_path) -> None:
    """Photographs that record their 35 mm-equivalent focal length are solved with it (fountain-P11's reference
    focal length is 919.8 px at 1,024 px: 32 mm equivalent is 910.2 px)."""
    root = shared_path("scenes", "fountain-P11")
    ref = json.loads((root / "cameras.json").read_text())["frames"][:6]
    gt = np.stack([np.c_[np.array(f["R"]), np.array(f["t"])] for f in ref])
    folder = tmp_path / "exif"
    folder.mkdir()
    for path in sorted((root / "images").iterdir())[:6]:
        image = Image.open(path)
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0xA405] = 32
        image.save(folder / path.name, quality=95, exif=exif)
    rec = reconstruct([str(folder)], weights="default")
    solved = rec.camera_solve
    assert solved.focal_source == "EXIF" and solved.solved.all()
    np.testing.assert_allclose(rec.intrinsics[:, 0, 0], 32 / 36 * 1024)
    assert camera_metrics(rec.extrinsics, gt)["auc30"] > 80
    frame = InputFrame(name="x", source="<array #0>", image=Image.new("RGB", (8, 6)))
    assert exif_focal(frame, 8, 6) is None and exif_focal(InputFrame(name="y", source="?"), 8, 6) is None


def test_a_given_focal_length_comes_first_and_bad_ones_are_refused() -> None:
    images = [str(p) for p in sorted((shared_path("scenes", "fountain-P11") / "images").iterdir())[:4]]
    rec = reconstruct(images, weights="default", solve_options=SolveOptions(focal=900.0))
    assert rec.camera_solve.focal_source == "given" and rec.camera_solve.solved.all()
    np.testing.assert_allclose(rec.intrinsics[:, 0, 0], 900.0)
    with pytest.raises(InputError, match="--focal applies to --cameras matches"):
        reconstruct(images, weights="default", cameras="head", solve_options=SolveOptions(focal=900.0))
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(InputError, match="--focal must be a positive"):
            reconstruct(images, weights="default", solve_options=SolveOptions(focal=bad))


def test_matches_chain_into_tracks_and_inconsistent_chains_are_dropped() -> None:
    a, b, c = np.array([[1.0, 2.0], [5.0, 5.0]]), np.array([[3.0, 4.0], [6.0, 6.0]]), np.array([[7.0, 8.0]])
    pairs = {(0, 1): (a, b), (1, 2): (b[:1], c), (0, 2): (a[:1], c)}
    xy, mask = chain_tracks(pairs, 3)
    assert mask.sum(0).tolist() == [3, 2]  # one track through all frames, one of two
    np.testing.assert_array_equal(xy[:, 0], [[1, 2], [3, 4], [7, 8]])
    # frame 0's two keypoints joined through frame 1: one 3D point cannot be seen twice in a frame
    bad = {(0, 1): (a, np.array([[3.0, 4.0], [3.0, 4.0]]))}
    assert chain_tracks(bad, 2)[1].shape[1] == 0


def test_bundle_adjustment_runs_on_the_solve_s_matches(tmp_path) -> None:
    """``--ba`` with cameras from matches adjusts on the solve's inliers (no track head needed): sub-pixel
    reprojection error and the reference cameras of six fountain-P11 photographs; the saved run re-runs it."""
    root = shared_path("scenes", "fountain-P11")
    ref = json.loads((root / "cameras.json").read_text())["frames"][:6]
    gt = np.stack([np.c_[np.array(f["R"]), np.array(f["t"])] for f in ref])
    images = [str(p) for p in sorted((root / "images").iterdir())[:6]]
    rec = reconstruct(images, weights="default", ba=True)
    assert rec.ba is not None and rec.tracks is None and rec.ba.error_after < min(1.0, 0.8 * rec.ba.error_before)
    np.testing.assert_allclose(rec.intrinsics, rec.camera_solve.intrinsics)  # the solved focal length is held
    _, seen = rec.camera_solve.tracks()
    assert rec.ba.summary()["points"] > int((seen.sum(0) >= 3).sum())  # two-frame tracks count too
    assert rec.ba.summary()["min_track_length"] == 2 and rec.ba.summary()["focal_length_refined"] is False
    assert camera_metrics(rec.extrinsics, gt)["auc30"] > 95
    again = export(rec.save(tmp_path / "run"))
    assert again.ba is not None and camera_metrics(again.extrinsics, gt)["auc30"] > 95
