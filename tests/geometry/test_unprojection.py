"""Depth unprojection: fixture parity, float64 mode, torch batch version, reprojection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from openvggt.geometry import (
    depth_to_cam_coords,
    depth_to_world_coords_points,
    project_world_points_to_cam,
    unproject_depth,
    unproject_depth_map_to_point_map,
)
from tests.conftest import rel_err


@pytest.fixture(scope="module")
def geometry(parity_dir):
    ref = load_file(str(parity_dir / "geometry.safetensors"))
    return ref["depth"], ref["extrinsics"][0], ref["intrinsics"][0], ref["world_points"]


def test_fixture_parity_official_numerics(geometry):
    depth, extrinsics, intrinsics, expected = geometry
    points = unproject_depth_map_to_point_map(depth, extrinsics, intrinsics)  # torch in, numpy out
    assert isinstance(points, np.ndarray) and points.shape == (5, 42, 56, 3) and points.dtype == np.float64
    assert rel_err(torch.from_numpy(points), expected) < 1e-9
    # [S, H, W] depth and numpy inputs give the same.
    again = unproject_depth_map_to_point_map(depth[..., 0].numpy(), extrinsics.numpy(), intrinsics.numpy())
    np.testing.assert_array_equal(again, points)


def test_float64_mode_is_more_precise_and_reprojects(geometry):
    depth, extrinsics, intrinsics, expected = geometry
    points = unproject_depth_map_to_point_map(depth, extrinsics, intrinsics, cam_dtype=None)
    # Official numerics round camera points to float32, so agreement is at float32 level only.
    assert rel_err(torch.from_numpy(points), expected) < 1e-6
    # Project frame 1's points back: pixel grid and depth come back to float64 precision.
    frame = 1
    flat = torch.from_numpy(points[frame].reshape(-1, 3))
    pixels, cam = project_world_points_to_cam(flat, extrinsics[frame : frame + 1], intrinsics[frame : frame + 1])
    rows, cols = torch.meshgrid(torch.arange(42.0), torch.arange(56.0), indexing="ij")
    grid = torch.stack((cols, rows), dim=-1).reshape(-1, 2).double()
    assert float((pixels[0] - grid).abs().max()) < 1e-10
    assert float((cam[0, 2] - depth[frame, ..., 0].reshape(-1)).abs().max()) < 1e-12


def test_torch_batched_version_matches_numpy(geometry):
    depth, extrinsics, intrinsics, _ = geometry
    reference = unproject_depth_map_to_point_map(depth, extrinsics, intrinsics, cam_dtype=None)
    ours = unproject_depth(depth, extrinsics, intrinsics)  # [S, H, W, 1] depth
    assert ours.dtype == torch.float64 and ours.shape == (5, 42, 56, 3)
    assert rel_err(ours, torch.from_numpy(reference)) < 1e-12
    batched = unproject_depth(
        depth[None, ..., 0].expand(2, -1, -1, -1),
        extrinsics.expand(2, -1, -1, -1),
        intrinsics.expand(2, -1, -1, -1),
    )
    assert batched.shape == (2, 5, 42, 56, 3)
    assert rel_err(batched[1], ours) == 0


def test_cam_coords_pixel_convention_and_mask():
    depth = np.full((3, 4), 2.0)
    depth[0, 0] = 0.0
    intrinsic = np.array([[2.0, 0, 1.5], [0, 4.0, 1.0], [0, 0, 1]])
    cam = depth_to_cam_coords(depth, intrinsic, cam_dtype=None)
    # Pixel (u=3, v=2): X = (3 - 1.5) * 2 / 2, Y = (2 - 1) * 2 / 4, Z = 2; no half-pixel offset.
    np.testing.assert_array_equal(cam[2, 3], [1.5, 0.5, 2.0])
    assert depth_to_cam_coords(depth, intrinsic).dtype == np.float32
    identity = np.eye(4)[:3]
    world, cam32, mask = depth_to_world_coords_points(depth, identity, intrinsic)
    np.testing.assert_array_equal(world, cam32)
    assert mask.sum() == 11 and not mask[0, 0]


def test_errors():
    with pytest.raises(ValueError, match="skew"):
        depth_to_cam_coords(np.ones((2, 2)), np.array([[1.0, 0.1, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        depth_to_cam_coords(np.ones((1, 2, 2)), np.eye(3))
    with pytest.raises(ValueError, match="3 frames but extrinsics/intrinsics have 2/2"):
        unproject_depth_map_to_point_map(np.ones((3, 2, 2)), np.zeros((2, 3, 4)), np.zeros((2, 3, 3)))
