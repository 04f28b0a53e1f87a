from __future__ import annotations

import pytest

from openvggt.errors import InputError
from openvggt.longseq.plan import chunk_for_budget, default_overlap, frame_bytes, plan_chunks
from openvggt.models.config import VGGTConfig


def _check_cover(plan, n, chunk, overlap):
    owned = [f for c in plan for f in range(c.own_start, c.end)]
    assert owned == list(range(n))  # every frame owned exactly once, in order
    for a, b in zip(plan, plan[1:]):
        assert a.end - b.start >= overlap  # consecutive chunks share at least the overlap
        assert b.own_start == a.end
    assert all(len(c) <= chunk for c in plan)


@pytest.mark.parametrize(
    ("n", "chunk", "overlap"), [(1, 8, 2), (8, 8, 2), (9, 8, 2), (100, 16, 4), (17, 16, 15), (2000, 64, 16)]
)
def test_plan_covers_every_frame(n, chunk, overlap):
    plan = plan_chunks(n, chunk, overlap)
    _check_cover(plan, n, chunk, overlap)
    if n <= chunk:
        assert len(plan) == 1 and plan[0].start == 0 and plan[0].end == n


def test_plan_spreads_full_chunks_evenly():
    plan = plan_chunks(30, 16, 4)  # 3 chunks are needed; spread evenly rather than a last one with 2 new frames
    assert [(c.start, c.end) for c in plan] == [(0, 16), (7, 23), (14, 30)]
    assert [(c.start, c.end) for c in plan_chunks(28, 16, 4)] == [(0, 16), (12, 28)]  # exact fit


@pytest.mark.parametrize(
    ("n", "chunk", "overlap", "message"),
    [
        (0, 8, 2, "no frames"),
        (10, 0, 0, "--chunk"),
        (20, 8, 1, "--overlap must be at least"),
        (20, 8, 8, "smaller than --chunk"),
    ],
)
def test_plan_bad_settings(n, chunk, overlap, message):
    with pytest.raises(InputError, match=message):
        plan_chunks(n, chunk, overlap)


def test_budget_chunk_grows_with_the_budget_and_rejects_tiny_budgets():
    cfg = VGGTConfig.preset("vggt-small")
    small = chunk_for_budget(cfg, (126, 168), 1.0)
    large = chunk_for_budget(cfg, (126, 168), 4.0)
    assert 4 <= small < large
    assert frame_bytes(cfg, (126, 168), "bf16") < frame_bytes(cfg, (126, 168), "fp32")
    with pytest.raises(InputError, match="too small"):
        chunk_for_budget(VGGTConfig.preset("vggt-1b"), (350, 518), 0.01)
    with pytest.raises(InputError, match="positive"):
        chunk_for_budget(cfg, (126, 168), 0)
    assert default_overlap(8) == 2 and default_overlap(1000) == 16


def test_voxel_cloud_merges_and_stays_bounded():
    import numpy as np

    from openvggt.longseq.voxel import VoxelCloud

    rng = np.random.default_rng(0)
    cloud = VoxelCloud(voxel=0.1, max_voxels=500)
    pts = np.array([[0.01, 0.01, 0.01], [0.02, 0.03, 0.04], [0.55, 0.0, 0.0]])
    cloud.add(
        pts, np.array([[10, 0, 0], [30, 0, 0], [0, 0, 0]], np.uint8), np.ones(3), np.array([4, 5, 6]), np.zeros((3, 2))
    )
    xyz, rgb, _ = cloud.points()
    assert len(cloud) == 2 and rgb[:, 0].tolist() in ([20, 0], [0, 20])
    assert sorted(cloud.frame.tolist()) == [4, 6]  # the first observation of each voxel is kept
    for _ in range(20):  # many more points than voxels allowed: the voxel grows, memory does not
        p = rng.uniform(-5, 5, (5000, 3))
        cloud.add(p, np.zeros((5000, 3), np.uint8), np.ones(5000), np.zeros(5000, int), np.zeros((5000, 2)))
        assert len(cloud) <= 500
    assert cloud.voxel > 0.1 and int(cloud.count.sum()) == 3 + 20 * 5000
