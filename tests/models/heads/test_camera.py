"""The camera head on its own: iterations, activations and frame-order equivariance."""

from __future__ import annotations

import pytest
import torch

from openvggt.models.config import CameraHeadConfig
from openvggt.models.heads.camera import CameraHead

DIM = 32


@pytest.fixture(scope="module")
def head() -> CameraHead:
    torch.manual_seed(0)
    cfg = CameraHeadConfig(trunk_depth=2, num_heads=4, num_iterations=3, init_values=1.0)
    head = CameraHead(DIM, cfg).eval()
    with torch.no_grad():  # a non-zero start so the iterations have something to refine
        head.empty_pose_tokens.normal_()
    return head


def test_one_pose_encoding_per_iteration(head):
    tokens = torch.randn(2, 4, DIM)  # [B, S, 2C]
    with torch.no_grad():
        preds = head(tokens)
    assert len(preds) == 3 and all(p.shape == (2, 4, 9) for p in preds)
    assert not torch.equal(preds[0], preds[-1])  # each iteration adds a correction
    with torch.no_grad():
        assert len(head(tokens, num_iterations=5)) == 5


def test_field_of_view_is_non_negative(head):
    with torch.no_grad():
        fov = head(10 * torch.randn(1, 6, DIM))[-1][..., 7:]
    assert (fov >= 0).all()  # relu activation of the two field-of-view entries


def test_frames_are_permutation_equivariant(head):
    """The trunk attends across frames without positional codes: permuting frames permutes the cameras."""
    tokens = torch.randn(1, 5, DIM)
    order = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        ref = head(tokens)[-1]
        permuted = head(tokens[:, order])[-1]
    torch.testing.assert_close(permuted, ref[:, order], rtol=1e-5, atol=1e-5)


def test_iterations_do_not_backpropagate_through_earlier_ones(head):
    """Each iteration starts from the previous estimate detached: the empty pose token (used by iteration 0
    only) gets a gradient from the first prediction and none from the second."""
    tokens = torch.randn(1, 2, DIM)
    preds = head(tokens)
    (first,) = torch.autograd.grad(preds[0].sum(), head.empty_pose_tokens, retain_graph=True)
    (second,) = torch.autograd.grad(preds[1].sum(), head.empty_pose_tokens, allow_unused=True, retain_graph=True)
    assert first.abs().sum() > 0
    assert second is None or second.abs().sum() == 0
