"""The DPT head on its own: shapes, activations, chunking, positional embedding and dtype."""

from __future__ import annotations

import pytest
import torch

from openvggt.models.config import DPTConfig
from openvggt.models.heads.dpt import DPTHead, uv_grid, uv_sincos_embedding

DIM, PATCH, START = 32, 14, 5  # 2C, patch size, patch_start_idx (1 camera + 4 registers)
CFG = DPTConfig(features=16, out_channels=(8, 16, 24, 24), intermediate_layer_idx=(0, 1, 2, 3), frames_chunk_size=2)


def _tokens(b: int, s: int, h: int, w: int, seed: int = 0) -> dict[int, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    p = START + (h // PATCH) * (w // PATCH)
    return {i: torch.randn(b, s, p, DIM, generator=gen) for i in CFG.intermediate_layer_idx}  # [B, S, P, 2C]


@pytest.fixture(scope="module")
def depth_head() -> DPTHead:
    torch.manual_seed(0)
    return DPTHead(DIM, CFG, PATCH, output_dim=2, activation="exp", conf_activation="expp1").eval()


def test_shapes_and_activations_on_a_non_square_input(depth_head):
    h, w = 42, 70
    with torch.no_grad():
        depth, conf = depth_head(_tokens(2, 3, h, w), (h, w), START)
    assert depth.shape == (2, 3, h, w, 1) and conf.shape == (2, 3, h, w)
    assert (depth > 0).all() and (conf > 1).all()  # exp and 1 + exp


def test_point_head_outputs_three_channels():
    torch.manual_seed(1)
    head = DPTHead(DIM, CFG, PATCH, output_dim=4, activation="inv_log", conf_activation="expp1").eval()
    with torch.no_grad():
        points, conf = head(_tokens(1, 2, 28, 42), (28, 42), START)
    assert points.shape == (1, 2, 28, 42, 3) and conf.shape == (1, 2, 28, 42)


@pytest.mark.parametrize("chunk", [1, 2, 5, None])
def test_frame_chunks_do_not_change_the_result(depth_head, chunk):
    tokens = _tokens(1, 5, 28, 28, seed=3)
    with torch.no_grad():
        ref = depth_head(tokens, (28, 28), START, frames_chunk_size=100)
        out = depth_head(tokens, (28, 28), START, frames_chunk_size=chunk)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[1], ref[1], rtol=1e-5, atol=1e-6)


def test_each_frame_is_decoded_on_its_own(depth_head):
    tokens = _tokens(1, 3, 28, 28, seed=4)
    with torch.no_grad():
        full, _ = depth_head(tokens, (28, 28), START)
        alone, _ = depth_head({k: v[:, 1:2] for k, v in tokens.items()}, (28, 28), START)
    torch.testing.assert_close(alone[:, 0], full[:, 1], rtol=1e-5, atol=1e-6)


def test_feature_only_head_returns_feature_maps():
    head = DPTHead(DIM, CFG, PATCH, feature_only=True, down_ratio=2).eval()
    with torch.no_grad():
        feats = head(_tokens(1, 3, 28, 42), (28, 42), START)
    assert feats.shape == (1, 3, CFG.features, 14, 21)  # [B, S, F, H/2, W/2]


def test_positional_embedding_grid_and_cache(depth_head):
    grid = uv_grid(3, 4, aspect=4 / 3, dtype=torch.float64)
    assert grid.shape == (3, 4, 2)
    torch.testing.assert_close(grid.mean(dim=(0, 1)), torch.zeros(2, dtype=torch.float64))  # centred
    emb = uv_sincos_embedding(8, 3, 4, 4 / 3, torch.float32)
    assert emb.shape == (1, 8, 3, 4) and emb.dtype == torch.float32 and emb.abs().max() <= 1
    tokens = _tokens(1, 1, 28, 28, seed=5)
    with torch.no_grad():
        first = depth_head(tokens, (28, 28), START)[0]
        cached = len(depth_head._pos_cache)
        second = depth_head(tokens, (28, 28), START)[0]
    assert cached > 0 and len(depth_head._pos_cache) == cached  # the second call reuses every entry
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_a_model_cast_to_bf16_stays_in_bf16(depth_head):
    head = DPTHead(DIM, CFG, PATCH, output_dim=2, activation="exp", conf_activation="expp1").eval().to(torch.bfloat16)
    tokens = {k: v.to(torch.bfloat16) for k, v in _tokens(1, 2, 28, 28).items()}
    with torch.no_grad():
        depth, conf = head(tokens, (28, 28), START)
    assert depth.dtype == torch.bfloat16 and conf.dtype == torch.bfloat16
