"""Typed, frozen configuration for VGGT and its named presets.

Every architecture knob of the official model is a field here. ``VGGTConfig.from_dict`` accepts the
``config`` object of a parity fixture's ``meta.json`` (nested dicts for ``patch_embed``,
``camera_head``, ``dpt`` and ``track_head``); knobs that are not given keep the official defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any

from openvggt.dicts import from_dict
from openvggt.layers.patch_embed import POS_EMBEDS

# Official DINOv2-with-registers presets: name -> (embed_dim, depth, num_heads).
DINOV2_PRESETS: dict[str, tuple[int, int, int]] = {
    "dinov2_vits14_reg": (384, 12, 6),
    "dinov2_vitb14_reg": (768, 12, 12),
    "dinov2_vitl14_reg": (1024, 24, 16),
    "dinov2_vitg2_reg": (1536, 40, 24),
}


@dataclass(frozen=True)
class PatchEmbedConfig:
    """The image tokeniser in front of the aggregator.

    ``arch="dinov2_reg"``: a DINOv2 ViT with register tokens whose width equals the aggregator's
    ``embed_dim``; ``arch="conv"``: a single 14x14 patch convolution.

    ``pos_embed`` (conv only): ``"none"`` or ``"sincos"``, a fixed 2-D sine-cosine table of each patch's integer
    (row, column) added to its token. The convolution alone gives the tokens no absolute position (attention's RoPE
    acts on queries and keys, never on the values), so a global-attention match cannot tell the camera token *where*
    the matching patch was; DINOv2 has its own learned table (``docs/training_study.md`` section 11).
    """

    arch: str = "dinov2_reg"
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    # Size the positional embedding was trained at (the table has (img_size/patch)^2 + 1 rows).
    img_size: int = 518
    pos_embed: str = "none"

    def __post_init__(self) -> None:
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"unknown patch_embed.pos_embed {self.pos_embed!r}; choose one of {POS_EMBEDS}")
        if self.pos_embed != "none" and self.arch != "conv":
            raise ValueError("patch_embed.pos_embed applies to arch='conv' only (DINOv2 has its own table)")


# camera_head.motion: "none" (official) or "match" (ours: FrameMotion, see models/heads/camera.py)
CAMERA_MOTIONS = ("none", "match")


@dataclass(frozen=True)
class CameraHeadConfig:
    """``motion="match"`` (ours, off in the official presets) adds :class:`~openvggt.models.heads.camera.FrameMotion`:
    the head also reads each frame's patch matches to frame 0 (``motion_dim``-wide descriptors)."""

    trunk_depth: int = 4
    num_heads: int = 16
    mlp_ratio: float = 4.0
    init_values: float = 0.01
    trans_act: str = "linear"
    quat_act: str = "linear"
    fl_act: str = "relu"
    num_iterations: int = 4
    motion: str = "none"
    motion_dim: int = 64

    def __post_init__(self) -> None:
        if self.motion not in CAMERA_MOTIONS:
            raise ValueError(f"unknown camera_head.motion {self.motion!r}; choose one of {CAMERA_MOTIONS}")


@dataclass(frozen=True)
class DPTConfig:
    features: int = 256
    out_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    intermediate_layer_idx: tuple[int, int, int, int] = (4, 11, 17, 23)
    pos_embed: bool = True
    # Frames decoded at once; results do not depend on it, peak memory does.
    frames_chunk_size: int | None = 8


@dataclass(frozen=True)
class TrackHeadConfig:
    features: int = 128
    hidden_size: int = 384
    iters: int = 4
    corr_levels: int = 7
    corr_radius: int = 4
    stride: int = 2
    tracker_depth: int = 6
    num_heads: int = 8
    num_virtual_tracks: int = 64
    mlp_ratio: float = 4.0
    predict_conf: bool = True
    max_scale: int = 518


@dataclass(frozen=True)
class VGGTConfig:
    """Architecture of a VGGT model. Defaults are the official VGGT-1B."""

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    qkv_bias: bool = True
    proj_bias: bool = True
    ffn_bias: bool = True
    qk_norm: bool = True
    rope_freq: float = 100.0
    init_values: float = 0.01
    aa_order: tuple[str, ...] = ("frame", "global")
    aa_block_size: int = 1
    # "alternating" (official), "global" (global attention only), "cross" (frames attend to frame 0).
    attention: str = "alternating"
    patch_embed: PatchEmbedConfig = field(default_factory=PatchEmbedConfig)
    camera_head: CameraHeadConfig = field(default_factory=CameraHeadConfig)
    dpt: DPTConfig = field(default_factory=DPTConfig)
    track_head: TrackHeadConfig = field(default_factory=TrackHeadConfig)
    enable_camera: bool = True
    enable_point: bool = True
    enable_depth: bool = True
    enable_track: bool = True

    def __post_init__(self) -> None:
        if self.depth % self.aa_block_size:
            raise ValueError(f"depth {self.depth} is not divisible by aa_block_size {self.aa_block_size}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.attention not in ("alternating", "global", "cross"):
            raise ValueError(f"unknown attention mode {self.attention!r}")
        if max(self.dpt.intermediate_layer_idx) >= self.depth:
            raise ValueError("dpt.intermediate_layer_idx refers to a layer beyond depth")

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VGGTConfig:
        """Build from a (possibly partial, possibly nested) dict; unknown keys are an error."""
        if isinstance(d.get("patch_embed"), str):  # the official name of a DINOv2 variant
            d = {**d, "patch_embed": _patch_embed_from_name(d["patch_embed"])}
        return from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def preset(cls, name: str) -> VGGTConfig:
        try:
            return PRESETS[name]
        except KeyError:
            raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None

    def with_heads(self, **enable: bool) -> VGGTConfig:
        """Copy with heads switched, e.g. ``cfg.with_heads(point=False, track=False)``."""
        return replace(self, **{f"enable_{k}": v for k, v in enable.items()})

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


def _patch_embed_from_name(name: str) -> dict[str, Any]:
    if "conv" in name:
        return {"arch": "conv"}
    if name not in DINOV2_PRESETS:
        raise ValueError(f"unknown patch embedder {name!r}")
    _, depth, heads = DINOV2_PRESETS[name]
    return {"arch": "dinov2_reg", "depth": depth, "num_heads": heads}


def _tiny() -> VGGTConfig:
    # Matches the structure of the parity fixture: cheap enough for unit tests.
    return VGGTConfig(
        embed_dim=64,
        depth=24,
        num_heads=4,
        patch_embed=PatchEmbedConfig(depth=2, num_heads=2),
        camera_head=CameraHeadConfig(trunk_depth=2, num_heads=4),
        dpt=DPTConfig(features=32, out_channels=(16, 32, 64, 64)),
        track_head=TrackHeadConfig(features=32, hidden_size=64),
    )


def _small() -> VGGTConfig:
    # The laptop-class model we train and ship: 8 alternating layers of width 256 at 168 px; ~22 M
    # parameters with the camera and depth heads, so the fp16 weights stay under 50 MB.
    return VGGTConfig(
        img_size=168,
        embed_dim=256,
        depth=8,
        num_heads=4,
        init_values=0.01,
        patch_embed=PatchEmbedConfig(depth=3, num_heads=4, img_size=168),
        camera_head=CameraHeadConfig(trunk_depth=1, num_heads=8),
        dpt=DPTConfig(features=64, out_channels=(48, 96, 192, 192), intermediate_layer_idx=(1, 3, 5, 7)),
        track_head=TrackHeadConfig(features=64, hidden_size=128, tracker_depth=3),
    )


PRESETS: dict[str, VGGTConfig] = {
    "vggt-1b": VGGTConfig(),
    "vggt-tiny": _tiny(),
    "vggt-small": _small(),
}
