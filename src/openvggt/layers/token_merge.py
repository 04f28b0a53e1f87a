"""Training-free token merging for global attention (in the spirit of FastVGGT / ToMe), opt-in.

Global attention over ``S`` frames costs ``O((S P)^2)``; neighbouring patch tokens of a frame are often
near-duplicates. Before the attention of a block, the most similar patch tokens are merged into a
neighbour, attention runs on the smaller set, and its output is copied back to every merged token
("unmerged") before the residual, so the MLP, the following blocks and the heads see all tokens.

Matching (bipartite, per frame): the patch grid is cut into 2x2 cells; the top-left token of a cell is a
*destination*, the other three are *sources*. Every source is matched to its most similar destination of the
same frame (cosine similarity of the block's normalised input tokens); the ``ratio`` fraction of all source
tokens with the highest similarity (over the whole sequence) is merged, each averaged into its destination.
Never merged: every token of frame 0 (the reference frame) and every camera and register token.

Legend: B scenes, S frames, P tokens per frame (``patch_start`` special tokens then ``h * w`` patches), C.
"""

from __future__ import annotations

import torch

from openvggt.layers.attention import RopeTables
from openvggt.layers.block import Block

_SIM_FRAMES = 64  # frames whose similarity matrices are formed at once (bounds the memory)


def merge_plan(y: torch.Tensor, frames: int, patch_start: int, hw: tuple[int, int], ratio: float):
    """Which tokens of ``y [S*P, C]`` to merge: ``(keep [T'] indices, src [r], dst [r])``, sorted ``keep``."""
    h, w = hw
    p = patch_start + h * w
    device = y.device
    rows, cols = (
        torch.div(torch.arange(h * w, device=device), w, rounding_mode="floor"),
        torch.arange(h * w, device=device) % w,
    )
    is_dst = (rows % 2 == 0) & (cols % 2 == 0)
    dst_local = torch.nonzero(is_dst).flatten() + patch_start  # [n_dst] token index within a frame
    src_local = torch.nonzero(~is_dst).flatten() + patch_start  # [n_src]
    best_sim, best_dst = [], []
    for start in range(1, frames, _SIM_FRAMES):
        f = torch.arange(start, min(start + _SIM_FRAMES, frames), device=device)[:, None] * p  # [F, 1]
        src_tok = torch.nn.functional.normalize(y[f + src_local].float(), dim=-1)  # [F, n_src, C]
        dst_tok = torch.nn.functional.normalize(y[f + dst_local].float(), dim=-1)  # [F, n_dst, C]
        sim, arg = (src_tok @ dst_tok.transpose(1, 2)).max(-1)  # [F, n_src]
        best_sim.append(sim.flatten())
        best_dst.append((f + dst_local[arg]).flatten())
    src_all = (torch.arange(1, frames, device=device)[:, None] * p + src_local).flatten()  # [(S-1) n_src]
    sim, dst_all = torch.cat(best_sim), torch.cat(best_dst)
    r = min(int(round(ratio * len(src_all))), len(src_all))
    chosen = torch.topk(sim, r).indices if r else torch.zeros(0, dtype=torch.long, device=device)
    src, dst = src_all[chosen], dst_all[chosen]
    keep_mask = torch.ones(frames * p, dtype=torch.bool, device=device)
    keep_mask[src] = False
    return torch.nonzero(keep_mask).flatten(), src, dst


def merged_block_forward(
    block: Block,
    x: torch.Tensor,
    rope: RopeTables | None,
    frames: int,
    patch_start: int,
    hw: tuple[int, int],
    ratio: float,
) -> torch.Tensor:
    """``block(x, rope)`` for ``x [B, S*P, C]`` with its attention on merged tokens (see the module docstring)."""
    outs = []
    for item in x:  # per scene: the matching differs
        y = block.norm1(item)  # [S*P, C]
        keep, src, dst = merge_plan(y, frames, patch_start, hw, ratio)
        slot = torch.full((y.shape[0],), -1, dtype=torch.long, device=y.device)
        slot[keep] = torch.arange(len(keep), device=y.device)  # token -> row of the merged set
        summed = y.index_add(0, dst, y[src])  # each destination plus the sources merged into it
        count = torch.ones(y.shape[0], dtype=y.dtype, device=y.device).index_add(
            0, dst, torch.ones(len(dst), dtype=y.dtype, device=y.device)
        )
        merged = (summed / count[:, None])[keep]  # [T', C]
        tables = None if rope is None else tuple(t[keep] for t in rope)
        attended = block.attn(merged[None], tables)[0]  # [T', C]
        full = torch.empty_like(y, dtype=attended.dtype)
        full[keep] = attended
        full[src] = attended[slot[dst]]  # unmerge: a merged token takes its destination's output
        item = item + block.ls1(full)
        outs.append(item + block.ls2(block.mlp(block.norm2(item))))
    return torch.stack(outs)
