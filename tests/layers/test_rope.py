"""RoPE against the spec's reference numbers and an explicit per-element formula."""

from __future__ import annotations

import torch

from openvggt.layers.rope import RotaryPositionEmbedding2D, patch_positions


def _explicit(v: torch.Tensor, y: int, x: int, base: float = 100.0) -> torch.Tensor:
    """out[i] = u[i] cos - u[i+16] sin, out[i+16] = u[i+16] cos + u[i] sin per 32-dim half."""
    out = torch.empty_like(v)
    for h, pos in ((0, y), (1, x)):
        u = v[32 * h : 32 * h + 32]
        for i in range(16):
            theta = pos * base ** (-i / 16)
            c, s = torch.cos(torch.tensor(theta, dtype=v.dtype)), torch.sin(torch.tensor(theta, dtype=v.dtype))
            out[32 * h + i] = u[i] * c - u[i + 16] * s
            out[32 * h + i + 16] = u[i + 16] * c + u[i] * s
    return out


def test_spec_reference_values():
    rope = RotaryPositionEmbedding2D(100.0)
    v = torch.arange(64, dtype=torch.float32) / 64
    tables = rope.tables(torch.tensor([[2, 3]]), 64, torch.float32)
    out = rope.apply(v[None], tables)[0]
    torch.testing.assert_close(out[0:3], torch.tensor([-0.2273244, -0.2638471, -0.2402411]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[16:19], torch.tensor([-0.1040367, 0.0344313, 0.1495405]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[32:35], torch.tensor([-0.6008363, -0.9196396, -0.8375860]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[48:51], torch.tensor([-0.6719344, -0.0794596, 0.4370672]), atol=1e-6, rtol=0)


def test_matches_explicit_formula_for_every_position_and_batch_layout():
    rope = RotaryPositionEmbedding2D(100.0)
    pos = patch_positions(3, 4, num_special=5)  # [17, 2]
    x = torch.randn(2, 3, pos.shape[0], 64, dtype=torch.float64)
    out = rope.apply(x, rope.tables(pos, 64, torch.float64))
    for t in (0, 4, 5, 9, 16):
        y, xx = pos[t].tolist()
        torch.testing.assert_close(out[1, 2, t], _explicit(x[1, 2, t], y, xx), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, :, :5], x[:, :, :5])  # special tokens at (0, 0) are not rotated


def test_rotation_preserves_norm_and_relative_position_property():
    rope = RotaryPositionEmbedding2D(100.0)
    q, k = torch.randn(64, dtype=torch.float64), torch.randn(64, dtype=torch.float64)

    def dot(pq, pk):
        tq = rope.tables(torch.tensor([pq]), 64, torch.float64)
        tk = rope.tables(torch.tensor([pk]), 64, torch.float64)
        return (rope.apply(q[None], tq) * rope.apply(k[None], tk)).sum()

    # Same offset (3, 4); angles are formed in fp32 (as in the official model), hence the tolerance.
    torch.testing.assert_close(dot((2, 3), (5, 7)), dot((4, 1), (7, 5)), rtol=1e-5, atol=1e-6)
    t = rope.tables(torch.tensor([[6, 2]]), 64, torch.float64)
    torch.testing.assert_close(rope.apply(q[None], t).norm(), q.norm())
