"""Shi-Tomasi corner picking for track queries."""

from __future__ import annotations

import numpy as np
import torch

from openvggt.pipeline.keypoints import corner_score, detect_corners


def _checkerboard(size: int = 160, square: int = 20) -> torch.Tensor:
    y, x = np.mgrid[0:size, 0:size]
    board = ((x // square + y // square) % 2).astype(np.float32)
    return torch.from_numpy(board)[None].expand(3, -1, -1).clone()


def test_corners_of_a_checkerboard_are_found_at_the_square_corners():
    image = _checkerboard()
    points = detect_corners(image, max_points=200, border=8).numpy()
    inner = np.arange(20, 160, 20) - 0.5  # corners lie between pixels 19 and 20, ...
    assert len(points) >= 36  # 7 x 7 inner corners, minus those in the border band
    dx = np.abs(points[:, :1] - inner[None]).min(1)
    dy = np.abs(points[:, 1:] - inner[None]).min(1)
    assert dx.max() <= 1.0 and dy.max() <= 1.0
    # one detection per corner (non-maximum suppression)
    d = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
    assert d.min() > 4


def test_flat_image_has_no_corners_and_edges_score_low():
    flat = torch.full((3, 64, 64), 0.5)
    assert len(detect_corners(flat, 10)) == 0
    edge = torch.zeros(3, 64, 64)
    edge[:, :, 32:] = 1.0
    score = corner_score(edge)
    assert float(score.max()) < 1e-6  # a straight edge has one zero eigenvalue


def test_budget_mask_and_spread_are_respected():
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.random((3, 120, 200)).astype(np.float32))
    points = detect_corners(noise, max_points=64, grid=4)
    assert len(points) == 64
    cells = set(zip((points[:, 0] * 4 // 200).tolist(), (points[:, 1] * 4 // 120).tolist()))
    assert len(cells) == 16  # every grid cell got its share
    mask = torch.zeros(120, 200, dtype=torch.bool)
    mask[:, :100] = True
    left = detect_corners(noise, max_points=30, mask=mask)
    assert len(left) == 30 and float(left[:, 0].max()) < 100
