"""Correspondence supervision of the trunk's global attention (training only; ours, not the paper's).

The synthetic engine gives exact correspondences (the track targets). For a point seen in frame 0 and in frame
``s > 0``, the patch token of frame ``s`` that holds it should attend, among frame 0's patch tokens, to the one
that holds the same point. This module turns that into a loss on the attention logits of every global block:
for each such query, the head-averaged softmax over frame 0's patches, cross-entropy to the GT patch. It adds no
parameter and changes nothing at inference; the logits are recomputed from the block's own ``qkv`` projection,
norms and RoPE for the queried tokens and frame 0's patches only (a small fraction of a block's work).

Why: ``docs/training_study.md`` §10 shows that the global attention of every trunk trained here is at chance as a
matcher, which leaves the camera head nothing to read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from openvggt.layers.rope import RotaryPositionEmbedding2D

__all__ = [
    "AttentionMatch",
    "CameraMatch",
    "TokenMotion",
    "batch_queries",
    "match_motion",
    "match_queries",
    "query_keys",
]


def match_queries(
    tracks: Tensor, vis: Tensor, positive: Tensor | None, image_hw: tuple[int, int], patch: int, patch_start: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Queries of the attention-match loss from track targets.

    ``tracks [B, S, N, 2]`` (x, y) pixels, ``vis [B, S, N]``, ``positive [B, N]`` (None: all). Returns
    ``(scene [M], token [M], target [M])``: the scene, the index of the querying patch token in the scene's
    global token sequence ``[S * P]`` (frames ``s > 0``), and the index of the GT patch among frame 0's
    ``h * w`` patches, for every track visible in frame 0 and in that frame.
    """
    gh, gw = image_hw[0] // patch, image_hw[1] // patch
    tokens_per_frame = patch_start + gh * gw
    col = (tracks[..., 0] // patch).long().clamp(0, gw - 1)
    row = (tracks[..., 1] // patch).long().clamp(0, gh - 1)
    cell = row * gw + col  # [B, S, N]
    scene, frame, track = _matched(vis, positive)
    token = frame * tokens_per_frame + patch_start + cell[scene, frame, track]
    target = cell[scene, torch.zeros_like(frame), track]
    return scene, token, target


def match_motion(tracks: Tensor, vis: Tensor, positive: Tensor | None, image_hw: tuple[int, int]) -> Tensor:
    """Each :func:`match_queries` query's motion to frame 0, ``[M, 2]`` (x, y), in units of the image's longer side:
    ``(position in frame 0 - position in frame s) / max(H, W)``, in the same order as the queries."""
    scene, frame, track = _matched(vis, positive)
    moved = tracks[scene, torch.zeros_like(frame), track] - tracks[scene, frame, track]  # [M, 2] pixels
    return moved / max(image_hw)


def _matched(vis: Tensor, positive: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(scene, frame, track)`` of every track visible in frame 0 and in a frame ``s > 0`` (and positive)."""
    ok = vis & vis[:, :1]
    if positive is not None:
        ok = ok & positive[:, None]
    ok[:, 0] = False  # frame 0 is the one looked at
    return ok.nonzero(as_tuple=True)


def query_keys(
    attn: nn.Module, x: Tensor, rope_tables: tuple[Tensor, Tensor] | None, scene: Tensor, token: Tensor, keys: slice
) -> tuple[Tensor, Tensor]:
    """An attention layer's queries of some tokens and its keys of a token range, as its forward computes them.

    ``x [B, T, C]`` is the layer's (normed) input, ``scene``/``token [M]`` pick the queries; returns ``q [M, h, d]``
    and ``k [B, h, K, d]`` after the q/k norms and RoPE (from the layer's own ``qkv`` weights).
    """
    c, heads, d = x.shape[-1], attn.num_heads, attn.head_dim
    weight, bias = attn.qkv.weight, attn.qkv.bias
    bq, bk = (None, None) if bias is None else (bias[:c], bias[c : 2 * c])
    q = nn.functional.linear(x[scene, token], weight[:c], bq).reshape(-1, heads, d)  # [M, h, d]
    k = nn.functional.linear(x[:, keys], weight[c : 2 * c], bk)  # [B, K, C]
    k = k.reshape(k.shape[0], k.shape[1], heads, d).transpose(1, 2)  # [B, h, K, d]
    q, k = attn.q_norm(q), attn.k_norm(k)
    if attn.rope is not None and rope_tables is not None:
        cos, sin = rope_tables
        q = RotaryPositionEmbedding2D.apply(q.transpose(0, 1), (cos[token], sin[token])).transpose(0, 1)
        k = RotaryPositionEmbedding2D.apply(k, (cos[keys], sin[keys]))
    return q, k


class _LossHooks:
    """What the terms share: hooks on some modules while active, one loss recorded per hooked call."""

    name = ""

    def __init__(self, scene: Tensor, token: Tensor) -> None:
        self.scene, self.token = scene, token
        self.losses: list[Tensor] = []
        self.handles: list = []

    def _hooked(self) -> list[nn.Module]:
        raise NotImplementedError

    def _register(self, module: nn.Module):  # noqa: ANN202 - a torch hook handle
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204
        self.handles = [self._register(m) for m in self._hooked()]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def loss(self) -> Tensor:
        """Mean over the recorded calls."""
        return torch.stack(self.losses).mean()


class _GlobalBlockHooks(_LossHooks):
    """Terms on every global block of the trunk."""

    def __init__(self, aggregator: nn.Module, scene: Tensor, token: Tensor) -> None:
        super().__init__(scene, token)
        self.aggregator = aggregator

    def _hooked(self) -> list[nn.Module]:
        if getattr(self.aggregator, "grad_checkpointing", False):
            raise ValueError(f"the {self.name} loss does not support gradient checkpointing")
        return list(self.aggregator.global_blocks)


class AttentionMatch(_GlobalBlockHooks):
    """Context manager: while active, every global block's attention records its match loss for the queries.

    ``with AttentionMatch(model.aggregator, scene, token, target, tokens_per_frame, patch_start) as m: model(...)``
    then ``m.loss()`` is the mean cross-entropy over blocks and queries.
    """

    name = "attention-match"

    def __init__(
        self,
        aggregator: nn.Module,
        scene: Tensor,
        token: Tensor,
        target: Tensor,
        tokens_per_frame: int,
        patch_start: int,
    ) -> None:
        super().__init__(aggregator, scene, token)
        self.target = target
        self.frame0 = slice(patch_start, tokens_per_frame)

    def _register(self, block: nn.Module):  # noqa: ANN202
        return block.attn.register_forward_pre_hook(self._hook)

    def _hook(self, attn: nn.Module, args: tuple) -> None:
        if len(self.token) == 0:
            return
        q, k = query_keys(attn, args[0], args[1] if len(args) > 1 else None, self.scene, self.token, self.frame0)
        d = q.shape[-1]
        terms = []
        for b in self.scene.unique().tolist():  # per scene: its queries against its frame 0 (no [M, h, hw, d] copy)
            sel = self.scene == b
            logits = torch.einsum("mhd,hkd->mhk", q[sel].float(), k[b].float()) / d**0.5  # [M_b, h, hw]
            prob = logits.softmax(-1).mean(1)  # head-averaged attention over frame 0's patches, [M_b, hw]
            terms.append(prob.gather(1, self.target[sel][:, None]).squeeze(1))
        self.losses.append(-torch.cat(terms).clamp_min(1e-8).log().mean())


class TokenMotion(_GlobalBlockHooks):
    """Context manager: while active, every global block's output tokens record a motion read-out loss.

    For each query of :func:`match_queries` (the frame-``s`` patch token that holds a GT point), a *fixed* linear
    read-out of the block's output token (two orthonormal directions of the channel space, drawn once from seed 0;
    no parameter, nothing saved) should equal the point's motion to frame 0 (:func:`match_motion`). L1, mean over
    queries and blocks. Training only: it asks the trunk to write each patch's displacement into its token, where
    later frame blocks can pool it into the camera token (``docs/training_study.md`` section 11).
    """

    name = "token-motion"

    def __init__(self, aggregator: nn.Module, scene: Tensor, token: Tensor, motion: Tensor) -> None:
        super().__init__(aggregator, scene, token)
        self.motion = motion
        self.readout = motion_readout(aggregator.cfg.embed_dim).to(motion.device)  # [C, 2]

    def _register(self, block: nn.Module):  # noqa: ANN202
        return block.register_forward_hook(self._hook)

    def _hook(self, block: nn.Module, args: tuple, out: Tensor) -> None:
        if len(self.token) == 0:
            return
        pred = out[self.scene, self.token].float() @ self.readout  # [M, 2]
        self.losses.append((pred - self.motion).abs().mean())


class CameraMatch(_LossHooks):
    """Context manager: while active, the camera head's patch matcher records its match loss for the queries.

    The same queries and targets as :class:`AttentionMatch`, on the logits of
    :class:`~openvggt.models.heads.camera.FrameMotion`'s matcher (``camera_head.motion="match"``): for each frame-``s``
    patch that holds a GT point, cross-entropy of its softmax over frame 0's patches to the patch that holds the same
    point. This trains the descriptors whose matches the camera head reads.
    """

    name = "camera-match"

    def __init__(self, camera_head: nn.Module, scene: Tensor, token: Tensor, target: Tensor, tokens_per_frame: int,
                 patch_start: int) -> None:  # fmt: skip
        if getattr(camera_head, "motion", None) is None:
            raise ValueError("the camera-match loss needs a camera head with camera_head.motion='match'")
        super().__init__(scene, token)
        self.matcher = camera_head.motion.match
        self.target = target
        self.frame, self.cell = token // tokens_per_frame, token % tokens_per_frame - patch_start

    def _hooked(self) -> list[nn.Module]:
        return [self.matcher]

    def _register(self, module: nn.Module):  # noqa: ANN202
        return module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, logits: Tensor) -> None:
        if len(self.scene) == 0:
            return
        rows = logits[self.scene, self.frame, self.cell].float()  # [M, n]
        self.losses.append(nn.functional.cross_entropy(rows, self.target))


@functools.cache
def motion_readout(channels: int) -> Tensor:
    """The token-motion term's fixed read-out: two orthonormal directions of ``channels``-space, ``[C, 2]``
    float32, drawn from seed 0 (the same in every step and run, computed once per width)."""
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(channels, 2, generator=g, dtype=torch.float64))
    return basis.float()


def batch_queries(batch: Mapping, patch: int, patch_start: int) -> tuple[Tensor, Tensor, Tensor, int]:
    """:func:`match_queries` of a training batch, plus the tokens per frame."""
    images = batch["images"]
    hw = (images.shape[-2], images.shape[-1])
    scene, token, target = match_queries(
        batch["tracks"], batch["track_vis_mask"], batch.get("track_positive_mask"), hw, patch, patch_start
    )
    return scene, token, target, patch_start + (hw[0] // patch) * (hw[1] // patch)
