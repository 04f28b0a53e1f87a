"""The machinery against an oracle: chunks of exact depth and cameras, each in a world distorted by a random
Sim(3), must come back aligned to the exact trajectory; injected drift must be removed by loop closure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from openvggt.longseq import loop
from openvggt.longseq.chunked import run_chunks
from openvggt.longseq.metrics import trajectory_metrics
from openvggt.longseq.plan import plan_chunks
from openvggt.longseq.sequences import OracleChunkModel
from openvggt.longseq.sim3 import RobustFit, to_matrix, transform_extrinsics
from openvggt.longseq.store import ChunkStore


def _extrinsics(run) -> np.ndarray:
    out = np.zeros((run.num_frames, 3, 4))
    for c in run.plan:
        pred = run.store.load(c.index)
        own = pred.frames >= c.own_start
        out[pred.frames[own]] = transform_extrinsics(run.poses[c.index], pred.extrinsics[own])
    return out


def test_distorted_chunks_realign_to_the_exact_trajectory(loop_sequence, tmp_path):
    source, gt = loop_sequence
    model = OracleChunkModel(source, gt, seed=3)
    plan = plan_chunks(80, 16, 4)
    with ChunkStore(tmp_path / "store") as store:
        run = run_chunks(model, plan, store, progress=False)
        d0 = model.distortions[tuple(plan[0].frames)]
        for c in plan:  # chunk pose = (chunk 0's distortion) o (chunk c's distortion)^-1
            expected = d0 @ np.linalg.inv(model.distortions[tuple(c.frames)])
            np.testing.assert_allclose(run.poses[c.index], expected, atol=1e-9 * np.abs(expected).max())
        metrics = trajectory_metrics(_extrinsics(run), gt.extrinsics[:80])
    assert metrics["ate_rmse"] < 1e-6
    assert metrics["rpe_rot_deg"] < 1e-6
    assert metrics["auc30"] == pytest.approx(100.0)


def test_loop_closure_removes_injected_drift(loop_sequence, tmp_path):
    source, gt = loop_sequence
    model = OracleChunkModel(source, gt, seed=4)
    plan = plan_chunks(200, 16, 4)
    with ChunkStore(tmp_path / "store") as store:
        run = run_chunks(model, plan, store, progress=False)
        assert trajectory_metrics(_extrinsics(run), gt.extrinsics)["ate_rmse"] < 1e-6
        drift = to_matrix(1.01, Rotation.from_rotvec([0.0, 0.004, 0.002]).as_matrix(), [0.002, 0.0, 0.0])
        for k in range(1, len(plan)):  # every chunk-to-chunk fit slightly wrong, the same way: drift
            run.fits[k] = RobustFit(run.fits[k].matrix @ drift, 0.0, 1.0, 1, 1)
        run.poses = [np.eye(4)]
        for k in range(1, len(plan)):
            run.poses.append(run.poses[-1] @ run.fits[k].matrix)
        drifted = trajectory_metrics(_extrinsics(run), gt.extrinsics)["ate_rmse"]
        edges = loop.close_loops(model, run)
        closed = trajectory_metrics(_extrinsics(run), gt.extrinsics)["ate_rmse"]
    assert len(edges) >= 2  # the second lap revisits the first
    assert all(e.b - e.a >= 2 for e in edges)
    assert closed < drifted / 4, (drifted, closed)


def test_revisit_detection_excludes_temporal_neighbours():
    rng = np.random.default_rng(0)
    desc = rng.normal(size=(100, 8)).astype(np.float32)
    desc[60] = desc[10] + 0.01  # a revisit
    desc[11] = desc[10]  # a neighbour, not a revisit
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    found = loop.detect_revisits(desc, chunk=8, options=loop.LoopOptions(threshold=0.95))
    assert [(i, j) for i, j, _ in found] == [(10, 60)]


def test_pose_graph_recovers_poses_from_consistent_edges():
    rng = np.random.default_rng(2)
    from openvggt.longseq.sequences import random_sim3

    truth = [np.eye(4)] + [random_sim3(rng, (0.8, 1.25), 1.0) for _ in range(5)]
    edges = [
        loop.Edge(a, b, np.linalg.inv(truth[a]) @ truth[b], "x")
        for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5), (1, 4)]
    ]
    start = [truth[0]] + [t @ random_sim3(rng, (0.95, 1.05), 0.05) for t in truth[1:]]
    solved = loop.optimise_poses(start, edges)
    for a, b in zip(solved, truth):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_chunked_reconstruction_writes_every_output(loop_sequence, tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    from openvggt.pipeline.chunked import ChunkedOptions, reconstruct_chunked

    source, gt = loop_sequence
    from openvggt.longseq.sequences import GroundTruth
    from openvggt.longseq.source import CallableSource

    n = 120
    sub = CallableSource(source.names[:n], source.image)
    sub_gt = GroundTruth(gt.extrinsics[:n], gt.intrinsics[:n], gt.sizes[:n], gt.depth)
    out = tmp_path / "rec"
    result = reconstruct_chunked(
        None,
        out,
        source=sub,
        gt=sub_gt,
        chunk_model=OracleChunkModel(sub, sub_gt, seed=5),
        options=ChunkedOptions(chunk=16, overlap=4, loop_closure=True),
    )
    for name in (
        "points.ply",
        "scene.glb",
        "transforms.json",
        "run.json",
        "report.html",
        "cameras.npz",
        "depth/meta.json",
        "depth/00000.npy",
        "depth/00119.png",
        "images/00119.png",
    ):
        assert (out / name).is_file(), name
    assert not (out / ".chunks").exists()
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert rec.num_reg_images() == n and rec.num_points3D() > 1000
    ref = json.loads((out / "run.json").read_text())["reference"]
    assert ref["ate_rmse"] < 1e-6 and ref["abs_rel"] < 1e-6
    transforms = json.loads((out / "transforms.json").read_text())
    assert len(transforms["frames"]) == n
    assert result.extrinsics.shape == (n, 3, 4)
