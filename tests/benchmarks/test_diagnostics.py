"""The model diagnostics of benchmarks/ run end to end on a tiny model and tiny scenes, and measure what they say."""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from openvggt.data.dataset import SceneDataset, scene_folders
from openvggt.data.sample import SampleConfig
from openvggt.data.synth.synthetic import SynthConfig, generate_scene, write_scene
from openvggt.geometry.unprojection import depth_to_cam_coords
from openvggt.io.checkpoint import save_model
from openvggt.metrics.camera import camera_metrics
from openvggt.models.config import PatchEmbedConfig, VGGTConfig
from openvggt.models.init import random_model

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory) -> Path:
    """Four 8-frame scenes (two video, an indoor and a street one) at 140 px (the track head needs 128 px a side)."""
    root = tmp_path_factory.mktemp("diag_scenes")
    for i, family in enumerate(("video", "indoor", "video", "street")):
        write_scene(generate_scene(3, i, SynthConfig(num_frames=8, size=140, family=family)), root)
    return root


def _tiny(pos_embed: str) -> VGGTConfig:
    tiny = VGGTConfig.preset("vggt-tiny")
    return dataclasses.replace(
        tiny,
        img_size=140,
        depth=2,
        dpt=dataclasses.replace(tiny.dpt, intermediate_layer_idx=(0, 1, 1, 1)),
        patch_embed=PatchEmbedConfig(arch="conv", pos_embed=pos_embed),
    )


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("diag_weights")
    return {p: save_model(random_model(_tiny(p), seed=5), out / f"{p}.safetensors") for p in ("none", "sincos")}


@pytest.fixture()
def bench(monkeypatch):  # noqa: ANN201
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    yield lambda name: importlib.import_module(name)
    torch.set_num_threads(threads)  # the scripts set their own thread count


def _table(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]


def test_ridge_r2_scores_held_out_rows(bench) -> None:
    ridge_r2 = bench("probe_diagnostics").ridge_r2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = np.c_[x @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]), rng.normal(size=400)]  # one readable target, one noise
    fit = np.arange(400) < 300
    r2 = ridge_r2(x, y, fit)
    assert r2[0] > 0.99 and r2[1] < 0.05


def test_position_probe_tells_a_position_free_trunk_from_one_with_positions(bench, weights, scenes_root, capsys):
    probe = bench("probe_diagnostics")
    column = {}
    for name, path in weights.items():
        assert probe.main(["position", str(path), str(scenes_root), "--size", "140", "--scenes", "4"]) == 0
        rows = [r for r in _table(capsys.readouterr().out) if r[0].isdigit()]
        assert len(rows) == 2 * 2  # 2 layers x 2 halves
        column[name] = max(float(r[3]) for r in rows)
    assert column["sincos"] > 0.8, column
    assert column["none"] < 0.5, column


def test_pose_and_flow_probes_run(bench, weights, scenes_root, capsys) -> None:
    probe = bench("probe_diagnostics")
    common = [str(weights["sincos"]), str(scenes_root), "--size", "140", "--scenes", "4"]
    assert probe.main(["pose", *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pose: 12 rows from 4 scenes (9 fit rows)")  # 3 non-reference frames a scene, 3 fitted
    assert probe.main(["flow", *common, "--tracks", "32"]) == 0
    assert "| 1 | global |" in capsys.readouterr().out
    assert probe.main(["nothing"]) == 2


def test_camera_attention_and_track_diagnostics_run(bench, weights, scenes_root, capsys) -> None:
    common = [str(weights["sincos"]), str(scenes_root), "--size", "140", "--scenes", "4"]
    assert bench("camera_diagnostics").main([*common, "--frames", "4"]) == 0
    out = capsys.readouterr().out
    assert len([r for r in _table(out) if r[0].startswith("seed3_")]) == 4
    assert re.search(r"all \d+ pairs: median rotation error", out)
    assert bench("attention_diagnostics").main([*common, "--tracks", "32"]) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    assert set(rows) >= {"0", "1", "no motion (same position)", "chance"}
    assert float(rows["chance"][1].rstrip(" %")) == pytest.approx(100 / 100, abs=0.05)  # 10x10 patches of 140 px
    for layer in ("0", "1"):
        exact, near, mass = (float(v.rstrip(" %")) for v in rows[layer][1:4])
        assert 0 <= exact <= near <= 100 and 0 < mass < 100
    assert bench("track_diagnostics").main([*common, "--frames", "4", "--tracks", "16"]) == 0
    assert len([r for r in _table(capsys.readouterr().out) if r[0].startswith("seed3_")]) >= 1


def test_match_probe_reads_the_camera_heads_matcher(bench, weights, scenes_root, tmp_path, capsys) -> None:
    probe = bench("probe_diagnostics")
    common = [str(scenes_root), "--size", "140", "--scenes", "4", "--tracks", "64"]
    with pytest.raises(SystemExit, match="does not match patches"):
        probe.main(["match", str(weights["sincos"]), *common])
    cfg = _tiny("sincos")
    cfg = dataclasses.replace(cfg, camera_head=dataclasses.replace(cfg.camera_head, motion="match"))
    path = save_model(random_model(cfg, seed=5), tmp_path / "match.safetensors")
    assert probe.main(["match", str(path), *common]) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    share, exact, near = (float(v.rstrip(" %")) for v in rows["mutual best"][1:4])
    assert 0 < share <= 100 and 0 <= exact <= near <= 100
    assert float(rows["all (argmax)"][1].rstrip(" %")) == 100.0
    assert {"matcher", "GT tracks"} <= set(rows)  # the pose read-out of both motion fields


def test_motion_oracle_fields_are_the_scenes_own_correspondences(bench, scenes_root) -> None:
    """The exact motion field agrees with the engine's world points projected into frame 0, an independent path."""
    oracle = bench("motion_oracle")
    cfg = SampleConfig(img_size=140, min_height=140, min_frames=4, max_frames=4, augment=False)
    sample = SceneDataset(scene_folders(scenes_root)[1:2], cfg)[0]  # the indoor scene: real parallax
    motion, valid, _, has_depth = oracle.motion_field(sample)
    assert (has_depth >= valid).all()
    assert valid[0].float().mean() > 0.9 and motion[0].abs().max() < 1e-6  # frame 0 matches itself
    assert valid[1:].float().mean() > 0.3 and motion[1:][valid[1:]].abs().max() > 0.02  # the others move
    s, h, w = 4, 10, 10
    centre = (torch.arange(w) + 0.5) * 14
    u, v = centre.repeat(h), centre.repeat_interleave(w)
    world = sample["world_points"][:, v.long(), u.long()].double()  # [S, n, 3] in frame 0's camera
    uv = world @ sample["intrinsics"][0].double().T
    uv = uv[..., :2] / uv[..., 2:]
    want = (uv - torch.stack([u, v], -1)) / 140
    torch.testing.assert_close(motion[valid].double(), want[valid], atol=1e-4, rtol=0)
    pos = oracle.grid_positions(h, w, torch.device("cpu"))
    noisy = oracle.with_outliers(motion, valid, 0.5, pos, torch.Generator().manual_seed(0))
    changed = (noisy != motion).any(-1)
    assert not changed[0].any() and 0.3 < changed[1:][valid[1:]].float().mean() < 0.7
    assert s == len(motion)


def test_motion_oracle_runs(bench, scenes_root, capsys) -> None:
    root = str(scenes_root)
    args = [root, root, "--scenes", "4", "--heldout", "2", "--size", "140", "--outliers", "0", "--minutes", "0.01"]
    assert bench("motion_oracle").main(args) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    assert {"identity", "0 %"} <= set(rows)
    assert 0 <= float(rows["0 %"][2]) <= 100


def test_pose_solvers_recover_the_cameras_from_exact_inputs(bench, scenes_root) -> None:
    """With GT depth, GT point maps and the engine's exact correspondences the solvers give back the GT cameras;
    with the point map of frame 0 put in place of every frame's (a head that draws each frame in its own camera) the
    points solver returns the identity, which is what it has to report for such a model."""
    solve = bench("pose_solve")

    cfg = SampleConfig(img_size=140, min_height=140, min_frames=4, max_frames=4, augment=False)
    sample = SceneDataset(scene_folders(scenes_root)[1:2], cfg)[0]  # indoor: real parallax
    depth, ext, intr = (sample[k].double().numpy() for k in ("depths", "extrinsics", "intrinsics"))
    world = sample["world_points"].double().numpy()
    mask = sample["point_masks"].numpy()
    conf = mask.astype(float) + 1e-3  # the points off the GT mask (no depth) weigh next to nothing
    got = solve.from_points(np.where(mask, depth, 1.0), conf, world, conf, intr)
    np.testing.assert_allclose(got[:, :, :3], ext[:, :, :3], atol=1e-4)
    assert camera_metrics(got, ext)["auc30"] > 99
    filled = np.where(mask, depth, 1.0)
    in_own_camera = np.stack([depth_to_cam_coords(d, k, cam_dtype=None) for d, k in zip(filled, intr, strict=True)])
    own = solve.from_points(filled, conf, in_own_camera, conf, intr)
    np.testing.assert_allclose(own, np.tile(np.eye(3, 4), (4, 1, 1)), atol=1e-6)
    gy, gx = np.mgrid[0:10, 0:10]
    grid = np.c_[(gx.ravel() + 0.5) * 14, (gy.ravel() + 0.5) * 14]
    xy, seen = solve.exact_matches(sample, grid)
    assert seen[0].mean() > 0.9 and np.abs(xy[0] - grid)[seen[0]].max() < 1e-6
    assert seen[1:].mean() > 0.3
    pnp = solve.from_matches(depth[0], intr, np.broadcast_to(grid, xy.shape), xy, seen, 2.0)
    np.testing.assert_allclose(pnp[1:], ext[1:], atol=1e-3)


def test_pose_solve_runs_every_solver(bench, weights, scenes_root, tmp_path, capsys) -> None:
    cfg = _tiny("sincos")
    cfg = dataclasses.replace(cfg, camera_head=dataclasses.replace(cfg.camera_head, motion="match"))
    path = save_model(random_model(cfg, seed=5), tmp_path / "match.safetensors")
    common = [str(scenes_root), "--size", "140", "--scenes", "2", "--frames", "4", "--gt-oracles"]
    assert bench("pose_solve").main([str(path), *common]) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    assert {"head", "identity", "points", "tracks", "matches", "exact matches, GT depth + intrinsics"} <= set(rows)
    assert float(rows["exact matches, GT depth + intrinsics"][1]) > 90
    assert all(0 <= float(r[1]) <= 100 for name, r in rows.items() if name != "cameras from")


def test_pose_cnn_pairs_and_targets(bench, scenes_root) -> None:
    """The probe's targets are the relative cameras (identity for a frame against itself; the normalised camera
    for a frame against frame 0), and the untrained network starts at the identity pose."""
    cnn = bench("pose_cnn")
    data = cnn.load(str(scenes_root), 2, 140)
    assert data["images"].dtype == torch.uint8 and data["images"].shape[:2] == (2, 8)
    ext = data["ext"][0]  # [8, 3, 4], frame 0 = identity after normalisation
    idx = torch.arange(8)
    same = cnn.relative(ext, idx, idx)
    torch.testing.assert_close(same, torch.eye(3, 4).expand(8, 3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(cnn.relative(ext, idx, torch.zeros(8, dtype=torch.long)), ext, atol=1e-5, rtol=0)
    back = cnn.relative(ext, torch.zeros(8, dtype=torch.long), idx)  # frame 0 seen from frame s: the inverse
    composed = torch.cat([back, torch.tensor([[[0, 0, 0, 1.0]]]).expand(8, 1, 4)], 1) @ torch.cat(
        [ext, torch.tensor([[[0, 0, 0, 1.0]]]).expand(8, 1, 4)], 1
    )
    torch.testing.assert_close(composed[:, :3], torch.eye(3, 4).expand(8, 3, 4), atol=1e-4, rtol=0)
    net = cnn.PairPoseNet(8)
    enc = net(data["images"][0].float() / 255, data["images"][0].float() / 255)
    torch.testing.assert_close(enc, torch.tensor([0, 0, 0, 0, 0, 0, 1, 1.0, 1.0]).expand(8, 9))


def test_pose_cnn_runs(bench, scenes_root, capsys) -> None:
    root = str(scenes_root)
    args = [root, root, "--scenes", "4", "--heldout", "2", "--size", "140", "--minutes", "0.05", "--width", "8"]
    assert bench("pose_cnn").main(args + ["--batch", "4", "--eval-every-s", "1"]) == 0
    rows = _table(capsys.readouterr().out)
    body = [r for r in rows if r[0] not in ("minutes",) and not r[0].startswith("-")]
    assert len(body) >= 2 and int(body[-1][1]) > 0  # a first row at step 0 and one after training
    assert all(0 <= float(r[4]) <= 100 for r in body)


def test_match_cnn_correspondences_and_sampling(bench, scenes_root) -> None:
    """The probe's GT correspondences are the motion oracle's (an independent path through the world points); its
    descriptor sampling reads a cell's own descriptor at the cell's centre; a frame matched to itself finds itself."""
    cnn = bench("match_cnn")
    data = cnn.load(str(scenes_root), 2, 140)
    depth, ext, intr = data["depth"][1], data["ext"][1], data["intr"][1]  # the indoor scene
    uv = torch.rand(1, 200, 2, generator=torch.Generator().manual_seed(0)) * 139
    same, seen = cnn.correspond(depth[1:2], depth[1:2], ext[1:2], ext[1:2], intr[1:2], intr[1:2], uv)
    assert seen.float().mean() > 0.8
    torch.testing.assert_close(same[seen], uv[seen], atol=1e-3, rtol=0)
    xy, seen = cnn.correspond(depth[1:2], depth[:1], ext[1:2], ext[:1], intr[1:2], intr[:1], uv)
    rows, cols = uv[0, :, 1].round().long(), uv[0, :, 0].round().long()
    world = SceneDataset(scene_folders(scenes_root)[1:2], SampleConfig(img_size=140, min_height=140, min_frames=8,
                         max_frames=8, augment=False))[0]["world_points"][1, rows, cols].float()  # fmt: skip
    proj = world @ intr[0].T
    want = proj[:, :2] / proj[:, 2:]
    assert seen.float().mean() > 0.2
    torch.testing.assert_close(xy[0][seen[0]], want[seen[0]], atol=1.0, rtol=0)  # the lookup rounds to a pixel
    net = cnn.Descriptors(width=8, dim=16).eval()
    with torch.no_grad():
        d = net(data["images"][1, :1].float() / 255)
        centres = cnn.cell_centres(*d.shape[-2:])
        got = cnn.sample_at(d, centres[None])[0]
        torch.testing.assert_close(got, d[0].flatten(1).T, atol=1e-5, rtol=0)
        grid = centres[::37]
        found, mutual = cnn.match_grid(
            net, data["images"][1, 0].float() / 255, data["images"][1, 0].float() / 255, grid
        )
    assert np.median(np.linalg.norm(found - grid.numpy(), axis=1)) < 2.0 and mutual.mean() > 0.5


def test_match_cnn_fine_stage_finds_the_pixel_in_its_window(bench) -> None:
    """With a distinct descriptor at every cell and a sharp softmax, the fine stage returns the query's own cell
    centre from a window put off it, also where the window has to be moved inside the image; the network gives
    stride-2 fine features beside its stride-4 coarse ones."""
    cnn = bench("match_cnn")
    g = torch.Generator().manual_seed(0)
    fine = F.normalize(torch.randn(1, 64, 20, 24, generator=g), dim=1)  # a 40 x 48 image at stride 2
    cells = torch.tensor([[[5.0, 7.0], [12.0, 10.0], [0.0, 0.0], [23.0, 19.0]]])
    uv = cells * cnn.FINE_STRIDE + 0.5  # the cells' centres in pixels
    centre = uv + torch.tensor([[[2.0, -3.0], [-3.0, 2.5], [1.0, 2.0], [-2.0, -1.0]]])
    got = cnn.refine(fine, fine, uv, centre, torch.tensor(math.log(200.0)))
    torch.testing.assert_close(got, uv, atol=1e-3, rtol=0)
    net = cnn.Descriptors(width=8, dim=16, fine_dim=8)
    coarse, fine = net.features(torch.rand(2, 3, 28, 36))
    assert coarse.shape == (2, 16, 7, 9) and fine.shape == (2, 8, 14, 18)
    torch.testing.assert_close(fine.norm(dim=1), torch.ones(2, 14, 18))


def test_match_cnn_runs(bench, scenes_root, capsys) -> None:
    root = str(scenes_root)
    args = [root, root, "--scenes", "4", "--heldout", "2", "--size", "140", "--minutes", "0.05", "--batch", "2"]
    assert bench("match_cnn").main(args + ["--points", "32", "--eval-every-s", "1"]) == 0
    body = [r for r in _table(capsys.readouterr().out) if r[0] != "minutes" and not r[0].startswith("-")]
    assert len(body) >= 2 and int(body[-1][1]) > 0
    assert all(0 <= float(r[4]) <= float(r[5]) <= float(r[6]) <= 100 and 0 <= float(r[8]) <= 100 for r in body)
    fine = args + ["--points", "32", "--eval-every-s", "1", "--fine-dim", "8", "--grid-step", "20"]
    assert bench("match_cnn").main(fine) == 0
    body = [r for r in _table(capsys.readouterr().out) if r[0] != "minutes" and not r[0].startswith("-")]
    assert len(body) >= 2 and int(body[-1][1]) > 0 and math.isfinite(float(body[-1][3]))


def test_focal_estimators_recover_the_scene_focal_from_exact_matches(bench, scenes_root) -> None:
    """From the engine's exact correspondences, the fundamental-matrix criterion finds the scene's focal length to a
    few per cent, and the PnP-inlier search puts it near there; a solve with GT depth and that focal gives back the
    GT cameras."""
    focal = bench("focal_solve")
    solve = bench("pose_solve")
    cfg = SampleConfig(img_size=140, min_height=140, min_frames=8, max_frames=8, augment=False)
    sample = SceneDataset(scene_folders(scenes_root)[1:2], cfg)[0]  # indoor: real parallax
    depth, ext, intr = (sample[k].double().numpy() for k in ("depths", "extrinsics", "intrinsics"))
    s, h, w = depth.shape
    gy, gx = np.mgrid[0:12, 0:12]
    grid = np.c_[(gx.ravel() + 0.5) * w / 12, (gy.ravel() + 0.5) * h / 12]
    xy, seen = solve.exact_matches(sample, grid)
    pairs = {(i, j): (xy[i][seen[i] & seen[j]], xy[j][seen[i] & seen[j]]) for i in range(s) for j in range(i + 1, s)}
    pairs = {k: v for k, v in pairs.items() if len(v[0]) >= 8}
    pairs0 = {j: pairs[0, j] for j in range(1, s) if (0, j) in pairs}
    gt = intr[0, 0, 0]
    assert abs(focal.focal_from_f(pairs, w, h) - gt) / gt < 0.05
    assert abs(focal.focal_by_inliers(focal.pnp_inliers(depth[0], pairs0, 2.0), w, h) - gt) / gt < 0.15
    assert focal.focal_from_f({}, w, h) is None
    uv0, uvs, ok = focal.padded(pairs0, s)
    k = np.tile(focal.centred_k(focal.focal_from_f(pairs, w, h), w, h), (s, 1, 1))
    assert camera_metrics(solve.from_matches(depth[0], k, uv0, uvs, ok, 2.0), ext)["auc30"] > 85


def test_focal_solve_runs(bench, weights, scenes_root, capsys) -> None:
    args = [str(weights["sincos"]), str(scenes_root), "--size", "140", "--scenes", "2", "--frames", "4"]
    assert bench("focal_solve").main(args) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    assert {"SIFT head", "exact F singular values", "exact + GT depth: GT"} <= set(rows)
    assert float(rows["exact + GT depth: GT"][1]) == 0 and float(rows["exact + GT depth: GT"][2]) > 90


def test_essential_solve_recovers_the_cameras_from_exact_matches(bench, scenes_root) -> None:
    """From exact matches and the GT focal length the two-view solve gives back every frame's rotation and
    translation direction, and with GT depth the translation's length too; with the depth scaled by 2 only the
    lengths double (the depth sets nothing else); a frame with too few matches falls back to the identity."""
    solve = bench("pose_solve")
    essential = bench("essential_solve")
    cfg = SampleConfig(img_size=140, min_height=140, min_frames=4, max_frames=4, augment=False)
    sample = SceneDataset(scene_folders(scenes_root)[1:2], cfg)[0]  # indoor: real parallax
    depth, ext, intr = (sample[k].double().numpy() for k in ("depths", "extrinsics", "intrinsics"))
    s, h, w = depth.shape
    pairs = essential.grid_pairs(sample, 16, w, h)
    assert (0, 1) in pairs and all(len(a) == len(b) >= 8 for a, b in pairs.values())
    uv0, uvs, ok = bench("focal_solve").padded({j: pairs[0, j] for j in range(1, s) if (0, j) in pairs}, s)
    got = solve.from_essential(depth[0], intr[0], uv0, uvs, ok, 1.0)
    np.testing.assert_allclose(got[:, :, :3], ext[:, :, :3], atol=1e-3)
    np.testing.assert_allclose(got[:, :, 3], ext[:, :, 3], atol=2e-3 * np.abs(ext[:, :, 3]).max())
    doubled = solve.from_essential(2 * depth[0], intr[0], uv0, uvs, ok, 1.0)
    np.testing.assert_allclose(doubled[:, :, 3], 2 * got[:, :, 3], rtol=1e-6, atol=1e-9)
    few = ok.copy()
    few[1, np.flatnonzero(few[1])[5:]] = False
    np.testing.assert_array_equal(solve.from_essential(depth[0], intr[0], uv0, uvs, few, 1.0)[1], np.eye(3, 4))


def test_essential_solve_runs(bench, weights, scenes_root, capsys) -> None:
    args = [str(weights["sincos"]), str(scenes_root), "--size", "140", "--scenes", "2", "--frames", "4"]
    assert bench("essential_solve").main(args) == 0
    rows = {r[0]: r for r in _table(capsys.readouterr().out)}
    assert float(rows["exact, GT focal, essential"][1]) > 85
    assert float(rows["exact, self-calibrated focal, essential, GT depth"][1]) > 85
    assert all(0 <= float(r[1]) <= 100 for name, r in rows.items() if not name.startswith("matches"))
