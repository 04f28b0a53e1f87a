"""Camera head: iterative refinement of a 9-d pose encoding from the camera tokens.

Each iteration modulates the (fixed) normalised camera tokens with an adaLN shift/scale/gate computed
from the current raw encoding, runs a small transformer across the S frames of each scene, and adds a
predicted update. Encoding layout ``[tx, ty, tz, qx, qy, qz, qw, fov_h, fov_w]`` (world-to-camera
translation, xyzw quaternion, vertical/horizontal field of view in radians).
Shape legend (docs/architecture.md): B scenes, S frames, 2C token width (``[B, S, 2C] -> [B, S, 9]``),
h x w patch grid.

Optional (ours, ``camera_head.motion="match"``, off in every official preset): :class:`FrameMotion` matches each
frame's patch tokens against frame 0's and adds a summary of the resulting motion field to the frame's camera
token, so the head is given frame-to-frame geometry instead of having to find it through global attention
(``docs/training_study.md`` section 12).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from openvggt.layers import Block, LayerScale, Linear, Mlp
from openvggt.models.config import CAMERA_MOTIONS, CameraHeadConfig
from openvggt.models.heads.activations import activate

POSE_DIM = 9
# per-patch inputs of FrameMotion besides the token projection: position (2), motion (2), match mass (1),
# motion x position (4)
_MOTION_GEOMETRY = 9
MOTION_TOKEN = 16
MATCH_INIT_SCALE = 20.0  # initial logit scale of the matcher's cosine similarities


class CameraHead(nn.Module):
    def __init__(self, dim_in: int, cfg: CameraHeadConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk = nn.Sequential(
            *[Block(dim_in, cfg.num_heads, cfg.mlp_ratio, init_values=cfg.init_values) for _ in range(cfg.trunk_depth)]
        )
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_DIM))
        self.embed_pose = Linear(POSE_DIM, dim_in)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), Linear(dim_in, 3 * dim_in))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, POSE_DIM)
        if cfg.motion not in CAMERA_MOTIONS:  # the config checks this too; a hand-built one may not
            raise ValueError(f"unknown camera_head.motion {cfg.motion!r}")
        self.motion = None
        if cfg.motion == "match":
            self.motion = FrameMotion(dim_in, cfg.motion_dim, init_values=cfg.init_values)

    def forward(
        self,
        camera_tokens: torch.Tensor,
        num_iterations: int | None = None,
        patch_grid: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """``camera_tokens [B, S, 2C]`` (token 0 of the last aggregated layer) -> list of ``[B, S, 9]``.

        ``patch_grid [B, S, h, w, 2C]`` (the same layer's patch tokens) is required when the head has a
        :class:`FrameMotion` and ignored otherwise.
        """
        c = self.token_norm(camera_tokens)
        if self.motion is not None:
            if patch_grid is None:
                raise ValueError("this camera head matches patches (camera_head.motion='match'): pass patch_grid")
            c = c + self.motion(patch_grid).to(c.dtype)
        c_mod = self.adaln_norm(c)
        raw: torch.Tensor | None = None
        preds = []
        for _ in range(num_iterations or self.cfg.num_iterations):
            if raw is None:
                cond = self.embed_pose(self.empty_pose_tokens.expand(*c.shape[:2], -1))
            else:
                raw = raw.detach()
                cond = self.embed_pose(raw)
            shift, scale, gate = self.poseLN_modulation(cond).chunk(3, dim=-1)
            z = gate * (c_mod * (1 + scale) + shift) + c
            z = self.trunk(z)
            delta = self.pose_branch(self.trunk_norm(z))
            raw = delta if raw is None else raw + delta
            preds.append(self.activate_pose(raw))
        return preds

    def activate_pose(self, raw: torch.Tensor) -> torch.Tensor:
        t, q, fov = raw.split([3, 4, 2], dim=-1)
        cfg = self.cfg
        return torch.cat([activate(t, cfg.trans_act), activate(q, cfg.quat_act), activate(fov, cfg.fl_act)], dim=-1)


class MatchFields(NamedTuple):
    """What :meth:`FrameMotion.fields` computes: ``logits [B, S, n, n]``, patch centres ``pos [n, 2]``, ``motion
    [B, S, n, 2]`` to frame 0, window ``mass`` and mutual-best-weighted ``trust`` ``[B, S, n]``."""

    logits: torch.Tensor
    pos: torch.Tensor
    motion: torch.Tensor
    mass: torch.Tensor
    trust: torch.Tensor


class MatchLogits(nn.Module):
    """Scaled cosine similarity of every frame's patch descriptors to frame 0's: ``[B, S, n, d] -> [B, S, n, n]``.

    A module of its own so that training can read the logits (``openvggt.train.attn_match.CameraMatch``).
    """

    def __init__(self, init_scale: float = MATCH_INIT_SCALE):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self, desc: torch.Tensor) -> torch.Tensor:
        d = nn.functional.normalize(desc.float(), dim=-1)  # [B, S, n, d]
        return torch.einsum("bsnd,bmd->bsnm", d, d[:, 0]) * self.log_scale.float().exp()


class FrameMotion(nn.Module):
    """Each frame's motion field to frame 0, from patch matching, pooled into one vector per frame.

    For every patch of frame ``s``: a learned descriptor is compared with all of frame 0's (:class:`MatchLogits`);
    the soft-argmax inside a ``(2r+1)^2`` window around the best match gives a sub-patch position in frame 0, hence
    a motion ``m = p0 - p`` (units of the image's longer side), with the window's probability mass as confidence.
    A per-patch MLP of ``(p, m, mass, m x p, projected token)`` is averaged over the patches, once plainly and once
    weighted by the mass of the matches that are mutual best matches (the classic filter against outliers), and
    mapped to the camera token width behind a LayerScale gain, so a fresh module starts close to adding nothing.
    Frame 0 matches itself (zero motion). Any grid size.
    """

    def __init__(self, dim_in: int, desc_dim: int = 64, hidden: int = 128, radius: int = 2, init_values: float = 0.01):
        super().__init__()
        self.radius = radius
        self.desc = nn.Sequential(nn.LayerNorm(dim_in), Linear(dim_in, desc_dim))
        self.match = MatchLogits()
        self.token_proj = nn.Sequential(nn.LayerNorm(dim_in), Linear(dim_in, MOTION_TOKEN))
        self.point_mlp = Mlp(_MOTION_GEOMETRY + MOTION_TOKEN, hidden, hidden)
        self.out = Linear(2 * hidden, dim_in)
        self.gain = LayerScale(dim_in, init_values)

    def forward(self, patch_grid: torch.Tensor) -> torch.Tensor:
        """``patch_grid [B, S, h, w, 2C]`` -> ``[B, S, 2C]``."""
        fields = self.fields(patch_grid)
        tokens = patch_grid.flatten(2, 3)  # [B, S, n, 2C]
        return self.summarise(fields.pos, fields.motion, fields.mass, fields.trust, self.token_proj(tokens))

    def fields(self, patch_grid: torch.Tensor) -> MatchFields:
        """The matcher's output for ``patch_grid [B, S, h, w, 2C]`` (also read by the diagnostics)."""
        b, s, h, w, _ = patch_grid.shape
        logits = self.match(self.desc(patch_grid.reshape(b, s, h * w, -1)))  # [B, S, n, n] float32
        pos = grid_positions(h, w, patch_grid.device)  # [n, 2] (x, y)
        motion, mass = window_soft_argmax(logits, pos, h, w, self.radius)  # [B, S, n, 2], [B, S, n]
        trust = mass * mutual_best(logits)  # a match is trusted when it is also frame 0's best match back
        return MatchFields(logits, pos, motion, mass, trust)

    def summarise(
        self,
        pos: torch.Tensor,
        motion: torch.Tensor,
        mass: torch.Tensor,
        trust: torch.Tensor,
        token_feats: torch.Tensor,
    ) -> torch.Tensor:
        """The pooling on its own (``benchmarks/motion_oracle.py`` feeds it exact motion fields).

        ``pos [n, 2]``, ``motion [B, S, n, 2]``, ``mass``/``trust [B, S, n]`` (pooling weights, need not sum to 1),
        ``token_feats [B, S, n, 16]`` -> ``[B, S, 2C]``.
        """
        p = pos.expand(*motion.shape[:2], -1, -1)
        geometry = torch.cat(
            [2 * p, 2 * motion, mass[..., None], 4 * (motion[..., :, None] * p[..., None, :]).flatten(-2)], dim=-1
        )  # [B, S, n, 9]
        feats = torch.cat([geometry.to(token_feats.dtype), token_feats], dim=-1)  # [B, S, n, 25]
        per_patch = self.point_mlp(feats)  # [B, S, n, hidden]
        trust = trust + 1e-6
        weight = (trust / trust.sum(-1, keepdim=True)).to(per_patch.dtype)
        pooled = torch.cat([per_patch.mean(2), (per_patch * weight[..., None]).sum(2)], dim=-1)  # [B, S, 2 hidden]
        return self.gain(self.out(pooled))


def grid_positions(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Patch centres ``[h*w, 2]`` (x, y), row-major, centred, in units of the grid's longer side."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    side = max(h, w)
    return torch.stack([(xs.flatten() + 0.5 - w / 2) / side, (ys.flatten() + 0.5 - h / 2) / side], dim=-1).float()


def mutual_best(logits: torch.Tensor) -> torch.Tensor:
    """``logits [..., n, m]`` -> ``[..., n]``: 1 where query ``i``'s best match ``j`` has ``i`` as its best, else 0."""
    best = logits.argmax(-1)  # [..., n]
    back = logits.argmax(-2)  # [..., m]: for each frame-0 patch its best query
    return (back.gather(-1, best) == torch.arange(logits.shape[-2], device=logits.device)).to(logits.dtype)


def window_soft_argmax(
    logits: torch.Tensor, pos: torch.Tensor, h: int, w: int, radius: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``logits [..., n, n]`` (query patch, frame-0 patch) -> motion ``[..., n, 2]`` and window mass ``[..., n]``.

    The expected frame-0 position under the softmax restricted to the ``(2r+1)^2`` window around the most likely
    frame-0 patch (the window is chosen without gradient; the position inside it is differentiable), minus the
    query patch's own position. The mass is the full softmax's probability inside the window.
    """
    prob = logits.softmax(-1)  # [..., n, n]
    best = logits.argmax(-1)  # [..., n]
    row, col = best // w, best % w
    rows = torch.arange(h, device=logits.device).repeat_interleave(w)  # [n] row of each frame-0 patch
    cols = torch.arange(w, device=logits.device).repeat(h)
    inside = ((rows - row[..., None]).abs() <= radius) & ((cols - col[..., None]).abs() <= radius)  # [..., n, n]
    windowed = prob * inside
    mass = windowed.sum(-1)  # [..., n]
    target = (windowed @ pos) / mass[..., None].clamp_min(1e-12)  # [..., n, 2]
    return target - pos, mass
