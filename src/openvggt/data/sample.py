"""Training samples: frame selection, per-frame processing, normalisation and tracks.

:func:`build_sample` turns frames of a :class:`~openvggt.data.scene.Scene` into the dict of
ARCHITECTURE.md §9.4 (shapes below, ``S`` frames of ``H x W``), **already normalised** (§9.1):
everything is in frame 0's camera (frame 0's extrinsic is ``[I | 0]``) and translations, depths and
points are divided by the mean distance of frame 0..S-1's valid points to frame 0's centre. (The
official code normalises in the trainer; doing it here keeps the trainer free of data logic.)

| key | shape | dtype | meaning |
|---|---|---|---|
| ``seq_name`` | str | | scene name |
| ``ids`` | [S] | int64 | frame indices in the scene, ``ids[0]`` is the reference frame |
| ``images`` | [S, 3, H, W] | float32 | RGB in [0, 1], colour-augmented when training |
| ``depths`` | [S, H, W] | float32 | z-depth, 0 = invalid |
| ``extrinsics`` | [S, 3, 4] | float32 | world(= frame 0 camera)-to-camera, OpenCV |
| ``intrinsics`` | [S, 3, 3] | float32 | pixels of the sample images |
| ``cam_points`` | [S, H, W, 3] | float32 | depth unprojected in each camera's frame |
| ``world_points`` | [S, H, W, 3] | float32 | the same points in frame 0's camera frame |
| ``point_masks`` | [S, H, W] | bool | depth valid |
| ``tracks`` | [S, T, 2] | float32 | pixel (x, y) tracks of frame-0 queries (``track_num > 0``) |
| ``track_vis_mask`` | [S, T] | bool | track visible in that frame |
| ``track_positive_mask`` | [T] | bool | a real track (False: a negative filler) |
| ``scene_scale`` | [] | float32 | the mean distance that was divided out (metres for metric scenes) |
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from openvggt.data.scene import Scene
from openvggt.data.tracks import build_tracks
from openvggt.data.transforms import (
    ColourAug,
    Frame,
    cam_to_world,
    depth_to_cam_points,
    normalise_scale,
    process_frame,
    relative_to_first,
)


@dataclass(frozen=True)
class SampleConfig:
    """How samples are drawn and processed.

    ``img_size``: sample width (the longer side of the landscape target); heights are multiples of
    ``patch`` in ``[min_height, img_size]`` and are chosen per batch by the sampler. ``augment``
    switches the random zoom crop and colour augmentation (off for evaluation).
    """

    img_size: int = 518
    min_height: int = 168
    patch: int = 14
    min_frames: int = 2
    max_frames: int = 24
    augment: bool = True
    scale_range: tuple[float, float] = (0.8, 1.2)
    colour: ColourAug = field(default_factory=ColourAug)
    track_num: int = 0
    track_rel_tol: float = 0.05
    min_overlap: float = 0.1
    window: int = 0  # >0: draw frames within this many indices of the reference (long sequences)

    def __post_init__(self) -> None:
        if self.img_size % self.patch:
            raise ValueError(f"img_size {self.img_size} is not a multiple of the patch size {self.patch}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")

    @property
    def heights(self) -> tuple[int, ...]:
        """Allowed sample heights: multiples of ``patch`` in ``[min_height, img_size]``."""
        lo = min(-(-self.min_height // self.patch) * self.patch, self.img_size)
        return tuple(range(lo, self.img_size + 1, self.patch))


def select_frames(
    scene: Scene, num: int, rng: np.random.Generator, min_overlap: float = 0.1, window: int = 0
) -> list[int]:
    """A random reference frame and ``num - 1`` frames that see part of what it sees.

    Overlap: the fraction of a grid of the reference's depth points that project inside a frame
    (no depth: every frame counts). Draws without replacement when enough frames qualify.
    """
    S = scene.num_frames
    ref = int(rng.integers(S))
    cand = np.array([i for i in range(S) if i != ref and (window <= 0 or abs(i - ref) <= window)], np.int64)
    depth = scene.load_depth(ref) if len(cand) else None
    if depth is not None and len(cand):
        cand = cand[_overlap(scene, ref, depth, cand) >= min_overlap]
    if len(cand) == 0:
        cand = np.array([ref])
    others = rng.choice(cand, size=num - 1, replace=len(cand) < num - 1)
    return [ref, *(int(i) for i in others)]


def _overlap(scene: Scene, ref: int, depth: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Fraction ``[len(cand)]`` of the reference's sampled depth points inside each candidate view."""
    H, W = depth.shape
    ys, xs = np.meshgrid(np.linspace(0, H - 1, 24).astype(int), np.linspace(0, W - 1, 32).astype(int), indexing="ij")
    d = depth[ys, xs]
    ok = d > 0
    if not ok.any():
        return np.ones(len(cand))
    K = scene.K[ref]
    cam = np.stack([(xs[ok] - K[0, 2]) / K[0, 0] * d[ok], (ys[ok] - K[1, 2]) / K[1, 1] * d[ok], d[ok]], axis=1)
    world = (cam - scene.t[ref]) @ scene.R[ref]
    pc = np.einsum("cij,nj->cni", scene.R[cand], world) + scene.t[cand][:, None]
    z = pc[..., 2]
    zs = np.where(z > 1e-6, z, 1.0)
    u = scene.K[cand, 0, 0, None] * pc[..., 0] / zs + scene.K[cand, 0, 2, None]
    v = scene.K[cand, 1, 1, None] * pc[..., 1] / zs + scene.K[cand, 1, 2, None]
    h, w = scene.sizes[cand, 0, None], scene.sizes[cand, 1, None]
    inside = (z > 1e-6) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    return inside.mean(axis=1)


def load_frame(scene: Scene, i: int) -> Frame:
    """Frame ``i`` with its mask folded into the depth (masked-out pixels become invalid)."""
    depth = scene.load_depth(i)
    mask = scene.load_mask(i)
    if depth is not None and mask is not None:
        depth = np.where(mask, depth, 0).astype(np.float32)
    return Frame(scene.load_image(i), depth, scene.K[i])


def build_sample(
    scene: Scene,
    ids: list[int],
    target_hw: tuple[int, int],
    rng: np.random.Generator | None,
    config: SampleConfig = SampleConfig(),
) -> dict:
    """The training dict (module docstring) for frames ``ids`` of ``scene`` at ``target_hw``.

    ``rng=None`` disables all augmentation and track sampling randomness is then seeded with 0.
    """
    aug_rng = rng if config.augment else None
    frames = [process_frame(load_frame(scene, i), target_hw, aug_rng, config.scale_range) for i in ids]
    S, (H, W) = len(ids), target_hw
    images = torch.from_numpy(np.stack([f.image for f in frames])).permute(0, 3, 1, 2).float() / 255
    if aug_rng is not None:
        images = config.colour(images, aug_rng)
    has_depth = all(f.depth is not None for f in frames)
    depths = np.stack([f.depth for f in frames]) if has_depth else np.zeros((S, H, W), np.float32)
    intrinsics = np.stack([f.K for f in frames])
    extrinsics = relative_to_first(scene.extrinsics[ids])
    masks = depths > 1e-8
    cam_points = depth_to_cam_points(depths, intrinsics)
    world_points = cam_to_world(cam_points, extrinsics)  # in frame 0's camera frame, scene units
    out = {}
    if config.track_num > 0:
        track_rng = rng if rng is not None else np.random.default_rng(0)
        tracks, vis, positive = build_tracks(
            extrinsics,
            intrinsics,
            world_points,
            depths,
            masks,
            config.track_num,
            track_rng,
            rel_tol=config.track_rel_tol,
        )
        out = {
            "tracks": torch.from_numpy(tracks),
            "track_vis_mask": torch.from_numpy(vis),
            "track_positive_mask": torch.from_numpy(positive),
        }
    extrinsics, world_points, cam_points, depths, scale = normalise_scale(
        extrinsics, world_points, cam_points, depths, masks
    )
    return {
        "seq_name": scene.name,
        "ids": torch.as_tensor(ids, dtype=torch.int64),
        "images": images.contiguous(),
        "depths": torch.from_numpy(depths),
        "extrinsics": torch.from_numpy(extrinsics),
        "intrinsics": torch.from_numpy(intrinsics.astype(np.float32)),
        "cam_points": torch.from_numpy(cam_points),
        "world_points": torch.from_numpy(world_points),
        "point_masks": torch.from_numpy(masks),
        **out,
        "scene_scale": torch.tensor(scale, dtype=torch.float32),
    }
