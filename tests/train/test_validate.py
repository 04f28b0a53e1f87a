"""The GT pose encoding, the validation decoding and the camera metric agree on their conventions.

A model that outputs exactly the training target (the pose encoding of the normalised GT cameras,
as the camera loss builds it) must score AUC@30 = 100 through :func:`openvggt.train.validate.evaluate`;
a 1 % perturbation of that encoding must lower it. Batches are non-square and cropped, so an (H, W)
swap or a frame/scale mismatch would show.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from openvggt.data.dataset import SceneDataset, SyntheticScenes
from openvggt.data.sample import SampleConfig, build_sample, select_frames
from openvggt.data.synth.synthetic import SynthConfig
from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.train.data import collate
from openvggt.train.losses import _gt_pose_encoding, camera_loss
from openvggt.train.validate import evaluate


class _Oracle(nn.Module):
    """Returns, in call order, the pose encodings it was given (stands in for a trained model)."""

    def __init__(self, encodings: list[torch.Tensor]):
        super().__init__()
        self.encodings = list(encodings)
        self.config = SimpleNamespace(patch_size=14)
        self.calls = 0

    def enabled_heads(self) -> tuple[str, ...]:
        return ("camera",)

    def forward(self, images, heads=()):  # noqa: ANN001
        enc = self.encodings[self.calls % len(self.encodings)]
        self.calls += 1
        assert enc.shape[:2] == images.shape[:2]
        return SimpleNamespace(pose_enc=enc, depth=None)


@pytest.fixture(scope="module")
def batches() -> list[dict]:
    """Two scenes of every family, 4 frames, augmented crops at 42 x 56 (non-square)."""
    cfg = SampleConfig(img_size=56, min_height=42, min_frames=4, max_frames=4)
    out = []
    for fam_i, family in enumerate(("indoor", "object", "street", "video")):
        scenes = SyntheticScenes(seed=3, num_scenes=2, config=SynthConfig(num_frames=4, size=64, family=family))
        ds = SceneDataset(scenes, cfg)
        for i in range(len(ds)):
            rng = np.random.default_rng([fam_i, i])
            scene = ds.scene(i)
            ids = select_frames(scene, 4, rng)
            out.append(collate([build_sample(scene, ids, (42, 56), rng, cfg)]))
    return out


def test_gt_encoding_scores_auc_100_and_one_percent_noise_lowers_it(batches):
    gt = [_gt_pose_encoding(b) for b in batches]
    metrics, _ = evaluate(_Oracle(gt), batches, torch.device("cpu"))
    assert metrics["auc30"] == pytest.approx(100.0)
    assert metrics["rra15"] == pytest.approx(100.0) and metrics["rta15"] == pytest.approx(100.0)

    gen = torch.Generator().manual_seed(0)
    noisy = [g * (1 + 0.01 * torch.randn(g.shape, generator=gen)) for g in gt]
    noisy_metrics, _ = evaluate(_Oracle(noisy), batches, torch.device("cpu"))
    assert noisy_metrics["auc30"] < 99.9  # AUC@30 is forgiving: 1 % noise costs ~1 point


def test_auc_ignores_the_scale_of_predicted_translations(batches):
    """AUC compares translation directions: predictions need not match the GT's unit mean distance."""
    scaled = []
    for b in batches:
        g = _gt_pose_encoding(b).clone()
        g[..., :3] *= 3.7
        scaled.append(g)
    metrics, _ = evaluate(_Oracle(scaled), batches, torch.device("cpu"))
    assert metrics["auc30"] == pytest.approx(100.0)


def test_camera_to_world_or_wxyz_predictions_would_fail(batches):
    """The metric is sensitive to the two classic convention slips (so it can detect them)."""
    wrong_inverse, wrong_order = [], []
    for b in batches:
        g = _gt_pose_encoding(b)
        extr, _ = pose_encoding_to_extri_intri(g, b["images"].shape[-2:], build_intrinsics=False)
        R, t = extr[..., :3], extr[..., 3]
        inv = g.clone()
        inv[..., :3] = -(R.transpose(-1, -2) @ t[..., None])[..., 0]  # camera centre instead of t
        wrong_inverse.append(inv)
        swapped = g.clone()
        swapped[..., 3:7] = torch.cat([g[..., 6:7], g[..., 3:6]], dim=-1)  # wxyz read as xyzw
        wrong_order.append(swapped)
    for enc in (wrong_inverse, wrong_order):
        metrics, _ = evaluate(_Oracle(enc), batches, torch.device("cpu"))
        assert metrics["auc30"] < 90.0


def test_gt_encoding_round_trips_focal_and_frame0_identity(batches):
    for b in batches:
        g = _gt_pose_encoding(b)
        assert torch.allclose(g[0, 0, :7], torch.tensor([0, 0, 0, 0, 0, 0, 1.0]), atol=1e-5)  # frame 0 = [I | 0]
        _, K = pose_encoding_to_extri_intri(g, b["images"].shape[-2:])
        gt_K = b["intrinsics"]
        assert torch.allclose(K[..., 0, 0], gt_K[..., 0, 0], rtol=1e-4)
        assert torch.allclose(K[..., 1, 1], gt_K[..., 1, 1], rtol=1e-4)
        # The training target of the camera loss is this encoding: its loss against itself is 0.
        loss = camera_loss([g, g], g)["loss_camera"]
        assert float(loss) == 0.0


def test_a_track_only_model_has_nothing_to_validate_and_heads_none_is_empty(batches):
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    model = random_model(VGGTConfig.preset("vggt-tiny").with_heads(camera=False, depth=False, point=False))
    assert model.enabled_heads() == ("track",)
    assert evaluate(model, batches[:1], torch.device("cpu")) == ({}, None)
    out = model(batches[0]["images"], heads=())
    assert out.pose_enc is None and out.depth is None and out.track is None
