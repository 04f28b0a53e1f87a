"""Does the trunk's global attention match frames? For exact synthetic correspondences, where the patch that holds a
point in frame 1 looks in frame 0.

    python benchmarks/attention_diagnostics.py WEIGHTS SCENES_ROOT [--size 168] [--scenes 8] [--tracks 128]

For every global-attention layer: the frame-1 patch token that holds a GT track's point attends (softmax over all
tokens, averaged over heads) to frame 0's patch tokens; we report how often the most-attended frame-0 patch is the
patch that holds the same point (within one patch: the 3x3 neighbourhood), next to what "the same image position"
(no motion) and chance would score, and the share of the attention mass that goes to frame 0's patches at all.
A trunk whose global attention does correspondence scores well above the no-motion guess on scenes that move
more than a patch; one that does not stays at or below it. 2 frames a scene (frame 0 and one other).
"""

from __future__ import annotations

import sys

import _diagnostics
import numpy as np
import torch

from openvggt.io.checkpoint import load_model
from openvggt.train.attn_match import query_keys
from openvggt.train.data import collate


class _Capture:
    """Attention probabilities of one query token set against all tokens, for each global block."""

    def __init__(self, blocks, queries: torch.Tensor):  # noqa: ANN001
        self.probs: list[torch.Tensor] = []
        self.queries = queries
        self.handles = [blk.attn.register_forward_pre_hook(self.hook) for blk in blocks]

    def hook(self, attn, args):  # noqa: ANN001, ANN201
        x = args[0]  # [1, S*P, C]
        scene = torch.zeros_like(self.queries)
        q, k = query_keys(attn, x, args[1] if len(args) > 1 else None, scene, self.queries, slice(0, x.shape[1]))
        logits = torch.einsum("mhd,hkd->hmk", q.float(), k[0].float()) / attn.head_dim**0.5  # [h, Q, T]
        self.probs.append(logits.softmax(-1).mean(0))  # [Q, T]

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _cell(xy: torch.Tensor, patch: int, gh: int, gw: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch row and column of ``(x, y)`` pixels."""
    return (xy[:, 1] // patch).clamp(0, gh - 1).long(), (xy[:, 0] // patch).clamp(0, gw - 1).long()


def main(argv: list[str] | None = None) -> int:
    args = _diagnostics.parse(__doc__, argv, frames=None, scenes=8, tracks=128)
    model = load_model(args.weights).eval()  # the trunk is all we use
    agg, patch = model.aggregator, model.config.patch_size
    ds = _diagnostics.scenes(args, 2, args.tracks)
    layers = len(agg.global_blocks)
    hit = np.zeros(layers)
    near = np.zeros(layers)
    mass = np.zeros(layers)
    still_hit = still_near = chance = motion = 0.0
    total = 0
    for i in range(len(ds)):
        b = collate([ds[i]])
        pos, vis = b["track_positive_mask"][0], b["track_vis_mask"][0]
        keep = pos & vis[1]
        if not keep.any():
            continue
        xy0, xy1 = b["tracks"][0][0, keep], b["tracks"][0][1, keep]  # [Q, 2] (x, y) pixels in frames 0 and 1
        _, _, _, height, width = b["images"].shape
        gh, gw = height // patch, width // patch
        r0, c0 = _cell(xy0, patch, gh, gw)
        r1, c1 = _cell(xy1, patch, gh, gw)
        start = agg.patch_start_idx
        tokens_per_frame = start + gh * gw
        queries = tokens_per_frame + start + r1 * gw + c1  # frame-1 patch tokens holding the points
        cap = _Capture(agg.global_blocks, queries)
        with torch.no_grad():
            agg(b["images"], layers=[-1])
        cap.close()
        frame0 = slice(start, tokens_per_frame)
        for layer, prob in enumerate(cap.probs):
            on0 = prob[:, frame0]  # [Q, gh*gw]
            mass[layer] += on0.sum(-1).sum().item()
            best = on0.argmax(-1)
            br, bc = best // gw, best % gw
            hit[layer] += ((br == r0) & (bc == c0)).sum().item()
            near[layer] += (((br - r0).abs() <= 1) & ((bc - c0).abs() <= 1)).sum().item()
        still_hit += ((r1 == r0) & (c1 == c0)).sum().item()
        still_near += (((r1 - r0).abs() <= 1) & ((c1 - c0).abs() <= 1)).sum().item()
        chance += len(r0) / (gh * gw)
        motion += (xy1 - xy0).norm(dim=-1).sum().item()
        total += len(r0)
    print(
        f"{total} correspondences in {len(ds)} scenes, mean motion {motion / total:.1f} px "
        f"({motion / total / patch:.1f} patches)"
    )
    print("| global layer | argmax = GT patch | within 1 patch | attention mass on frame 0's patches |")
    print("|---:|---:|---:|---:|")
    for layer in range(layers):
        print(
            f"| {layer} | {100 * hit[layer] / total:.1f} % | {100 * near[layer] / total:.1f} % | "
            f"{100 * mass[layer] / total:.1f} % |"
        )
    print(f"| no motion (same position) | {100 * still_hit / total:.1f} % | {100 * still_near / total:.1f} % | |")
    print(f"| chance | {100 * chance / total:.1f} % | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
