"""Fixtures for the viewer tests: reconstruct output folders and an in-memory scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import one_torch_thread

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "openvggt" / "assets" / "examples"


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="package")
def tiny_output(tmp_path_factory) -> Path:
    """A reconstruct folder from a random tiny model, with the point head's output."""
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model
    from openvggt.pipeline.reconstruct import reconstruct

    model = random_model(VGGTConfig.preset("vggt-tiny"))
    rec = reconstruct(sorted(EXAMPLES.glob("*.jpg")), model=model, size=112, use_point_map=True)
    return rec.save(tmp_path_factory.mktemp("rec") / "tiny")


@pytest.fixture(scope="package")
def chunked_output(tmp_path_factory) -> Path:
    """A chunked (long-sequence) reconstruct folder: cameras.npz + points.ply, no predictions.npz."""
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model
    from openvggt.pipeline.chunked import ChunkedOptions, reconstruct_chunked

    model = random_model(VGGTConfig.preset("vggt-tiny"))
    out = tmp_path_factory.mktemp("rec") / "chunked"
    return reconstruct_chunked(
        sorted(EXAMPLES.glob("*.jpg")), out, model=model, options=ChunkedOptions(chunk=3, overlap=2, size=112)
    ).out


@pytest.fixture(scope="package")
def shipped_output(tmp_path_factory) -> Path:
    """A reconstruct folder from the shipped model (a real-looking point cloud)."""
    from openvggt.pipeline.reconstruct import reconstruct

    rec = reconstruct(sorted(EXAMPLES.glob("*.jpg")), weights="default", device="cpu")
    return rec.save(tmp_path_factory.mktemp("rec") / "shipped")


def synthetic_scene(frames: int = 3, h: int = 14, w: int = 21, with_ba: bool = True):
    """A :class:`ViewerScene` of a fronto-parallel plane at depth 2 seen by cameras stepping along x."""
    from openvggt.viz.scene import ViewerScene

    rng = np.random.default_rng(0)
    extrinsics = np.tile(np.eye(4)[:3], (frames, 1, 1))
    extrinsics[:, 0, 3] = -0.1 * np.arange(frames)
    k = np.array([[20.0, 0, w / 2], [0, 20.0, h / 2], [0, 0, 1]])
    conf = 1 + rng.random((frames, h, w)).astype(np.float32)
    pred = extrinsics.copy()
    pred[:, 1, 3] += 0.05
    return ViewerScene(
        names=[f"f{i}.png" for i in range(frames)],
        images=rng.integers(0, 255, (frames, h, w, 3), dtype=np.uint8),
        depth=np.full((frames, h, w), 2.0, np.float32),
        depth_conf=conf,
        valid=np.ones((frames, h, w), bool),
        extrinsics=extrinsics,
        intrinsics=np.tile(k, (frames, 1, 1)),
        extrinsics_pred=pred if with_ba else None,
        world_points=rng.normal(size=(frames, h, w, 3)).astype(np.float32),
        world_points_conf=conf,
    )
