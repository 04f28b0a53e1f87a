"""Camera head: iterative refinement of a 9-d pose encoding from the camera tokens.

Each iteration modulates the (fixed) normalised camera tokens with an adaLN shift/scale/gate computed
from the current raw encoding, runs a small transformer across the S frames of each scene, and adds a
predicted update. Encoding layout ``[tx, ty, tz, qx, qy, qz, qw, fov_h, fov_w]`` (world-to-camera
translation, xyzw quaternion, vertical/horizontal field of view in radians).
Shape legend (docs/architecture.md): B scenes, S frames, 2C token width (``[B, S, 2C] -> [B, S, 9]``).
"""

from __future__ import annotations

import torch
from torch import nn

from openvggt.layers import Block, Linear, Mlp
from openvggt.models.config import CameraHeadConfig
from openvggt.models.heads.activations import activate

POSE_DIM = 9


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

    def forward(self, camera_tokens: torch.Tensor, num_iterations: int | None = None) -> list[torch.Tensor]:
        """``camera_tokens [B, S, 2C]`` (token 0 of the last aggregated layer) -> list of ``[B, S, 9]``."""
        c = self.token_norm(camera_tokens)
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
