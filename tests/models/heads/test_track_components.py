"""Weight-free parts of the tracker: sampling, embeddings, correlation pyramid, attention blocks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from openvggt.models.heads.track import corr as corr_mod
from openvggt.models.heads.track.corr import CorrPyramid, build_pyramid, window_offsets
from openvggt.models.heads.track.embeddings import flow_embedding, sincos_2d_sample, sincos_2d_table
from openvggt.models.heads.track.sampling import bilinear_sample, bilinear_sample_math, sample_points
from openvggt.models.heads.track.updateformer import AttnBlock, CrossAttnBlock, MultiheadAttention, UpdateTransformer

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
def test_bilinear_sample_matches_explicit_math(padding_mode):
    g = _gen(1)
    feats = torch.randn(2, 3, 5, 7, generator=g, dtype=F64)
    # x in [-2, 8], y in [-2, 6]: inside, on the edges and outside the 7 x 5 map.
    coords = torch.rand(2, 4, 6, 2, generator=g, dtype=F64) * torch.tensor([10.0, 8.0], dtype=F64) - 2
    coords[0, 0, :3] = torch.tensor([[0.0, 0.0], [6.0, 4.0], [6.0, 0.5]], dtype=F64)  # exact corners/edges
    ours = bilinear_sample(feats, coords, padding_mode)
    ref = bilinear_sample_math(feats, coords, padding_mode)
    assert ours.shape == (2, 3, 4, 6)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sampler", [bilinear_sample, bilinear_sample_math])
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
def test_sampling_at_pixel_centres_returns_pixels(sampler, padding_mode):
    feats = torch.randn(1, 2, 4, 6, generator=_gen(2), dtype=F64)
    ys, xs = torch.meshgrid(torch.arange(4.0, dtype=F64), torch.arange(6.0, dtype=F64), indexing="ij")
    coords = torch.stack([xs, ys], dim=-1).reshape(1, 4, 6, 2)  # (x, y) of every pixel, row-major
    out = sampler(feats, coords, padding_mode)  # [1, 2, 4, 6]
    torch.testing.assert_close(out, feats, atol=1e-14, rtol=0)


@pytest.mark.parametrize("sampler", [bilinear_sample, bilinear_sample_math])
def test_outside_the_map_zeros_versus_border(sampler):
    feats = torch.arange(1.0, 13.0, dtype=F64).reshape(1, 1, 3, 4)  # rows [1..4], [5..8], [9..12]
    coords = torch.tensor([[[[-0.5, 1.0], [-5.0, 1.0], [3.0, 9.0], [1.0, 2.5]]]], dtype=F64)
    zeros = sampler(feats, coords, "zeros")[0, 0, 0]
    border = sampler(feats, coords, "border")[0, 0, 0]
    # Half a pixel left of column 0 on row 1: zeros blends value 5 with an implicit 0.
    torch.testing.assert_close(zeros, torch.tensor([2.5, 0.0, 0.0, 0.5 * 10], dtype=F64))
    # Border clamps the coordinate onto the map first.
    torch.testing.assert_close(border, torch.tensor([5.0, 5.0, 12.0, 10.0], dtype=F64))


def test_size_one_axis_always_reads_pixel_zero():
    # align_corners=True maps every coordinate of a size-1 axis to pixel 0 (no zero padding there).
    feats = torch.randn(1, 2, 1, 4, generator=_gen(3), dtype=F64)
    coords = torch.tensor([[[[1.0, 0.0], [1.0, 3.7], [1.0, -2.0]]]], dtype=F64)
    for mode in ("zeros", "border"):
        ours = bilinear_sample(feats, coords, mode)
        torch.testing.assert_close(ours, bilinear_sample_math(feats, coords, mode), atol=1e-14, rtol=0)
        torch.testing.assert_close(ours[0, :, 0], feats[0, :, 0, 1:2].expand(2, 3))


def test_sample_points_layout_and_bad_input():
    feats = torch.randn(2, 3, 5, 6, generator=_gen(4), dtype=F64)
    pts = torch.tensor([[[2.0, 1.0]], [[5.0, 4.0]]], dtype=F64)  # [B=2, N=1, 2]
    out = sample_points(feats, pts)
    assert out.shape == (2, 1, 3)
    torch.testing.assert_close(out[0, 0], feats[0, :, 1, 2])
    torch.testing.assert_close(out[1, 0], feats[1, :, 4, 5])
    with pytest.raises(ValueError, match="padding_mode"):
        bilinear_sample(feats, pts[:, :, None], "reflection")
    with pytest.raises(ValueError, match="coords"):
        bilinear_sample(feats, pts, "zeros")


# ---------------------------------------------------------------------------------------------- embeddings
def test_flow_embedding_reference_values():
    emb = flow_embedding(torch.tensor([[1.5, -2.0]]), 64)[0]  # spec section 7.5
    assert emb.shape == (128,)
    torch.testing.assert_close(
        emb[:6], torch.tensor([0.0, 1.0, 0.2463281, -0.9691865, -0.4774758, 0.8786449]), atol=2e-6, rtol=0
    )
    torch.testing.assert_close(
        emb[64:70], torch.tensor([0.0, 1.0, 0.3257956, 0.9454402, 0.6160405, 0.7877145]), atol=2e-6, rtol=0
    )


def test_flow_embedding_float64_is_fp32_rounded_like_the_official():
    xy = torch.rand(5, 2, generator=_gen(5), dtype=F64) * 7
    emb = flow_embedding(xy, 16)
    assert emb.dtype == F64 and emb.shape == (5, 32)
    assert torch.equal(emb, emb.float().double())  # representable in fp32
    # ... but computed from float64 angles: x * 875 rad loses accuracy if formed in fp32.
    exact = torch.sin(xy[:, :1] * torch.arange(8, dtype=F64) * 125.0)
    torch.testing.assert_close(emb[:, 0:16:2], exact, atol=1e-7, rtol=0)


def test_sincos_2d_table_reference_values():
    table = sincos_2d_table(388, 3, 4)
    assert table.shape == (1, 388, 3, 4) and table.dtype == torch.float32
    at = table[0, :, 1, 2]  # row 1, column 2
    expected = {0: 0.9092974, 1: 0.9693962, 96: 0.0002199, 97: -0.4161468, 194: 0.8414710, 195: 0.7891455}
    expected[291] = 0.5403023
    for ch, value in expected.items():
        assert at[ch].item() == pytest.approx(value, abs=1e-6), ch


def test_sincos_2d_sample_is_the_border_sampled_table():
    table = sincos_2d_table(100, 6, 9)  # [1, 100, 6, 9]
    pts = torch.tensor([[[2.0, 3.0], [0.25, 4.5], [-3.0, 1.0], [11.0, 9.0]]], dtype=F64)
    out = sincos_2d_sample(pts, 100, 6, 9)  # [1, 4, 100]
    assert out.dtype == F64
    # Sampled in fp32 like the official: the normalisation round trip is exact only to ~1 ulp.
    torch.testing.assert_close(out[0, 0], table[0, :, 3, 2].double(), atol=2e-7, rtol=0)
    torch.testing.assert_close(out[0, 2], table[0, :, 1, 0].double(), atol=2e-7, rtol=0)  # clamped left
    torch.testing.assert_close(out[0, 3], table[0, :, 5, 8].double(), atol=2e-7, rtol=0)  # clamped corner
    # Exactly the official operation: grid_sample of the materialised fp32 table in fp32.
    assert torch.equal(out, sample_points(table.contiguous(), pts.float(), "border").double())
    ref = bilinear_sample_math(table.double(), pts[:, 1:2, None], "border")[0, :, 0, 0]
    torch.testing.assert_close(out[0, 1], ref, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d_table(98, 2, 2)


# --------------------------------------------------------------------------------------------- correlation
def test_window_offsets_are_x_major():
    off = window_offsets(4)
    assert off.shape == (81, 2)
    k = torch.arange(81)
    torch.testing.assert_close(off[:, 0], (k // 9 - 4).float())  # x: slow index
    torch.testing.assert_close(off[:, 1], (k % 9 - 4).float())  # y: fast index


@pytest.mark.parametrize("method", ["local", "volume"])
def test_correlation_peak_lands_on_the_x_major_index(method):
    c, height, width = 8, 16, 20
    vec = torch.randn(c, generator=_gen(6), dtype=F64)
    fmaps = torch.zeros(1, 1, c, height, width, dtype=F64)
    px, py = 10, 4  # peak pixel
    fmaps[0, 0, :, py, px] = vec
    coords = torch.tensor([[[[7.0, 6.0]]]], dtype=F64)  # offset to the peak: dx = +3, dy = -2
    out = CorrPyramid(fmaps, levels=2, radius=4, method=method).sample(vec.expand(1, 1, 1, c), coords)[0, 0, 0]
    peak = vec.dot(vec) / math.sqrt(c)
    level0, level1 = out[:81], out[81:]
    assert int(level0.argmax()) == (3 + 4) * 9 + (-2 + 4)  # 65; row-major order would give 25
    assert level0.max().item() == pytest.approx(peak.item(), rel=1e-12)
    assert level0.abs().sum().item() == pytest.approx(peak.item(), rel=1e-12)  # nothing else lights up
    # Level 1: 2x2 pooling puts a quarter of the peak at (5, 2); the centre is (3.5, 3).
    # Offsets (1.5, -1) are not integers in x, so the peak splits between a = 5 and a = 6, b = 3.
    torch.testing.assert_close(level1[5 * 9 + 3], peak / 8)
    torch.testing.assert_close(level1[6 * 9 + 3], peak / 8)


def _explicit_corr(fmaps, targets, coords, levels, radius):
    """Correlation volume per level, sampled with the explicit-math bilinear reference."""
    b, s, c, height, width = fmaps.shape
    maps = fmaps.reshape(b * s, c, height, width)
    offsets = window_offsets(radius, dtype=fmaps.dtype)
    n = targets.shape[2]
    out = []
    for i in range(levels):
        if i:
            maps = torch.nn.functional.avg_pool2d(maps, 2, 2)
        vol = torch.einsum("bnc,bchw->bnhw", targets.reshape(b * s, n, c), maps) / math.sqrt(c)
        hh, ww = vol.shape[-2:]
        pts = (coords.reshape(b * s, n, 1, 2) / 2**i + offsets).reshape(b * s * n, 1, -1, 2)
        out.append(bilinear_sample_math(vol.reshape(b * s * n, 1, hh, ww), pts, "zeros").reshape(b, s, n, -1))
    return torch.cat(out, dim=-1)


@pytest.mark.parametrize("method", ["local", "volume"])
def test_correlation_matches_explicit_reference(method, monkeypatch):
    monkeypatch.setattr(corr_mod, "LOCAL_CHUNK_ELEMENTS", 5000)  # force several chunks over tracks
    g = _gen(7)
    b, s, n, c, height, width = 2, 3, 7, 6, 17, 21  # odd sizes: pooling floors them
    fmaps = torch.randn(b, s, c, height, width, generator=g, dtype=F64)
    targets = torch.randn(b, s, n, c, generator=g, dtype=F64)
    coords = torch.rand(b, s, n, 2, generator=g, dtype=F64) * torch.tensor([26.0, 22.0], dtype=F64) - 3
    ours = CorrPyramid(fmaps, levels=3, radius=2, method=method).sample(targets, coords)
    assert ours.shape == (b, s, n, 3 * 25)
    torch.testing.assert_close(ours, _explicit_corr(fmaps, targets, coords, 3, 2), atol=1e-12, rtol=0)


def test_pyramid_sizes_and_too_small_maps():
    levels = build_pyramid(torch.zeros(1, 2, 3, 67, 130), 7)
    assert [tuple(x.shape[-2:]) for x in levels] == [(67, 130), (33, 65), (16, 32), (8, 16), (4, 8), (2, 4), (1, 2)]
    with pytest.raises(ValueError, match="too small"):
        build_pyramid(torch.zeros(1, 1, 3, 63, 200), 7)
    pyr = CorrPyramid(torch.zeros(1, 2, 3, 8, 8), levels=2, radius=1)
    with pytest.raises(ValueError, match="do not match"):
        pyr.sample(torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 2))


# ------------------------------------------------------------------------------------------------ attention
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_multihead_attention_equals_torch(use_sdpa, monkeypatch):
    monkeypatch.setattr(MultiheadAttention, "use_sdpa", use_sdpa)
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(24, 4, batch_first=True).double()
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    ours = MultiheadAttention(24, 4).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 5, 24, dtype=F64)
    ctx = torch.randn(3, 9, 24, dtype=F64)
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(ours(x, ctx), ref(x, ctx, ctx, need_weights=False)[0], atol=1e-12, rtol=0)


def _silence_branches(block: nn.Module) -> None:
    """Zero the attention output projection and the MLP output so both residual branches add 0."""
    attn = block.attn if hasattr(block, "attn") else block.cross_attn
    for lin in (attn.out_proj, block.mlp.fc2):
        nn.init.zeros_(lin.weight)
        nn.init.zeros_(lin.bias)


def test_blocks_add_residuals_onto_the_normalised_input():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 16, dtype=F64) * 3 + 1
    block = AttnBlock(16, 4).double()
    nn.init.normal_(block.norm1.weight)
    _silence_branches(block)
    torch.testing.assert_close(block(x), block.norm1(x))  # the official quirk: not x itself
    cross = CrossAttnBlock(16, 4).double()
    nn.init.normal_(cross.norm1.bias)
    _silence_branches(cross)
    torch.testing.assert_close(cross(x, torch.randn(2, 3, 16, dtype=F64)), cross.norm1(x))


def test_update_transformer_couples_tracks_and_frames():
    torch.manual_seed(2)
    model = UpdateTransformer(20, 16, 6, depth=2, num_heads=4, mlp_ratio=2.0, num_virtual_tracks=3).double()
    nn.init.normal_(model.flow_head.weight)  # the training init (std 1e-3) would hide the effect
    x = torch.randn(1, 4, 5, 20, dtype=F64)  # [B, N, T, D_in]
    out = model(x)
    assert out.shape == (1, 4, 5, 6)
    y = x.clone()
    y[0, 3, 4] += torch.randn(20, dtype=F64)  # change track 3 at frame 4 only (not a constant: LayerNorm)
    moved = (model(y) - out).abs().amax(dim=-1)[0]  # [N, T]
    assert moved[0, 0] > 1e-6  # another track at another frame feels it (virtual tracks + time attention)
