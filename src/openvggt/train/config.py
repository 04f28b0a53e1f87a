"""Typed training configuration, named presets, and ``key=value`` command-line overrides."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openvggt.dicts import from_dict
from openvggt.models.config import VGGTConfig
from openvggt.train.losses import LOSS_PRESETS, LossConfig


@dataclass(frozen=True)
class DataConfig:
    # "synthetic": scenes rendered on the fly from seeds; "folder": scenes on disk (any reader layout).
    source: str = "synthetic"
    root: str | None = None  # for source="folder"
    seed: int = 0  # synthetic training seeds start here (see docs/data.md for the held-out split)
    num_scenes: int = 100_000  # synthetic scene indices drawn from [0, num_scenes)
    families: tuple[str, ...] = ()  # empty = all families mixed
    image_size: int = 518  # sample width (the longer side)
    min_height: int = 168  # sample heights are multiples of the patch size in [min_height, image_size]
    frames_per_batch: int = 48  # total frames in one batch (per process)
    min_frames: int = 2
    max_frames: int = 24
    num_workers: int = 2
    track_num: int = 0  # query tracks per scene (0 disables track supervision)
    val_scenes: int = 0  # held-out synthetic scenes evaluated every val_every steps
    augment: bool = True  # random zoom crops and colour jitter (off: e.g. for an overfit check)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-5
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_frac: float = 0.05
    min_lr: float = 1e-8
    clip_grad: float = 1.0
    accum_steps: int = 1
    # Per-module learning-rate multipliers by parameter-name prefix, e.g. {"aggregator.": 0.1}.
    lr_mult: dict[str, float] = field(default_factory=dict)
    # Parameter-name glob patterns to freeze (kept in eval mode), e.g. ("aggregator.*",).
    freeze: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    model: str | dict = "vggt-small"  # preset name or a VGGTConfig dict
    init: str | None = None  # any source VGGT.from_pretrained reads (fine-tuning)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: str | dict = "paper"  # LOSS_PRESETS name or a LossConfig dict
    steps: int = 10_000
    max_minutes: float = 0.0  # >0: also stop after this much training time; the lr schedule follows it
    # auto = openvggt.runtime's choice: bf16 autocast on CUDA and on CPUs with native bf16, else fp32
    precision: str = "auto"  # or fp32 / bf16 / fp16
    grad_checkpointing: bool = False
    seed: int = 42
    out_dir: str = "runs/default"
    log_every: int = 10
    ckpt_every: int = 500
    val_every: int = 0
    keep_last: int = 2
    device: str = "auto"

    # ------------------------------------------------------------------------------------------
    def model_config(self) -> VGGTConfig:
        return VGGTConfig.preset(self.model) if isinstance(self.model, str) else VGGTConfig.from_dict(self.model)

    def loss_config(self) -> LossConfig:
        if isinstance(self.loss, str):
            return LOSS_PRESETS[self.loss]
        return from_dict(LossConfig, self.loss)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return from_dict(cls, d)

    @classmethod
    def load(cls, name_or_path: str) -> TrainConfig:
        """A preset name or a JSON file (a full or partial config)."""
        if name_or_path in TRAIN_PRESETS:
            return TRAIN_PRESETS[name_or_path]
        path = Path(name_or_path)
        if not path.is_file():
            raise ValueError(f"{name_or_path!r} is neither a training preset ({', '.join(TRAIN_PRESETS)}) nor a file")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None

    def override(self, assignments: list[str]) -> TrainConfig:
        """Apply ``a.b=value`` overrides; values are parsed as JSON when possible (else strings)."""
        d = self.to_dict()
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"override {item!r} is not of the form key=value")
            if key.startswith("model.") and isinstance(d.get("model"), str):  # a preset name: edit its full dict
                d["model"] = VGGTConfig.preset(d["model"]).to_dict()
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            node = d
            parts = key.split(".")
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    raise ValueError(f"unknown config key {key!r}")
                node = node[p]
            if parts[-1] not in node and not isinstance(node, dict):
                raise ValueError(f"unknown config key {key!r}")
            node[parts[-1]] = value
        return TrainConfig.from_dict(d)


# The model we ship: vggt-small trained from scratch on 200 pre-rendered synthetic scenes, camera + depth
# heads (the point and track heads cost CPU time the budget did not allow; see docs/model_card.md).
SMALL_SYNTHETIC = TrainConfig(
    model="vggt-small",
    data=DataConfig(
        source="folder",
        root="data/synth_train",
        image_size=168,
        min_height=126,
        frames_per_batch=10,
        min_frames=2,
        max_frames=6,
        num_workers=1,
        val_scenes=8,
    ),
    optim=OptimConfig(lr=3e-4, weight_decay=0.05, warmup_frac=0.05, clip_grad=1.0),
    loss={"point": False, "track": False},
    precision="auto",  # bf16 autocast where the CPU has native bf16 (the training machine had), else fp32
    steps=300,
    out_dir="runs/vggt-small-synthetic",
    log_every=5,
    ckpt_every=25,
    val_every=100,
)

# vggt-small with all four heads under 50 MB in fp16: the track head narrowed (features 48, hidden 96, 2
# tracker blocks; 2.2 M parameters instead of 4.1 M). 24,590,956 parameters, 49.2 MB in fp16.
SMALL_ALL_HEADS = dataclasses.replace(
    VGGTConfig.preset("vggt-small"),
    track_head=dataclasses.replace(
        VGGTConfig.preset("vggt-small").track_head, features=48, hidden_size=96, tracker_depth=2
    ),
).to_dict()

# The shipped model's architecture: the same with the DINOv2 patch embedder (3 blocks, trained from scratch here)
# replaced by one 14x14 patch convolution. In the overfit check (docs/training_study.md section 3b) the
# from-scratch DINOv2 embedder left the camera head blind to the images for ~10 k frames; the convolution reached
# a higher training-scene AUC@30 per frame seen at about 2.5x the frames per second.
SMALL_CONV_ALL_HEADS = {**SMALL_ALL_HEADS, "patch_embed": {**SMALL_ALL_HEADS["patch_embed"], "arch": "conv"}}

# What the study found a short run needs (docs/training_study.md): L1 camera loss x5 (the paper's Huber is
# quadratic at the 0.01-0.9 scale of normalised translations, so translation directions were barely learnt) with
# translation residuals divided by each scene's camera baseline (small-baseline scenes count as much as wide
# ones: best translation accuracy in the overfit check), fresh pre-rendered scenes.
_LONG_LOSS = {"camera_loss_type": "l1", "camera_weight": 5.0, "trans_norm": "baseline", "track_conf": True}

# The 2-hour CPU run is three stages (benchmarks/long_run.sh, docs/model_card.md), each resumable with --resume
# and each initialised from the one before (a fresh optimiser with a short warm-up):
# 1. `small-synthetic-long`: camera + depth only (3.4x cheaper a frame than all four heads). It ran 1,802 steps
#    (34 minutes, 26,700 frames) of a 95-minute schedule and was stopped there: held-out AUC@30 stayed at 6-12 and
#    the camera head predicted one pose for every frame (relative rotations 0.2-0.6 deg against GT 5-97 deg,
#    docs/training_study.md section 8), the collapse of every earlier run. `steps=1802` replays that stop.
# 2. `small-synthetic-long-point`: + the point map in frame 0's coordinates, the one dense target that needs
#    the relative poses (every pixel of frame i must be placed in frame 0's frame), to make the trunk reason
#    across frames. It ran 881 steps (21 minutes, 13,120 frames) of an 80-minute schedule and was stopped: no
#    change in the cameras, and the point head placed frames in their own camera's coordinates
#    (benchmarks/point_diagnostics.py), so the remaining time went to the track loss, the direct
#    cross-frame matching signal. `steps=881` replays that stop.
# 3. `small-synthetic-long-heads`: all four heads (the track head starts fresh), tracks supervised by the
#    engine's exact correspondences, heights 140-168, 72 minutes.
SMALL_SYNTHETIC_LONG = TrainConfig(
    model=SMALL_CONV_ALL_HEADS,
    data=DataConfig(
        source="folder",
        root="data/synth_long",
        image_size=168,
        min_height=112,
        frames_per_batch=16,
        min_frames=2,
        max_frames=8,
        num_workers=1,
        track_num=0,
        val_scenes=8,
    ),
    optim=OptimConfig(lr=3e-4, weight_decay=0.05, warmup_frac=0.03, clip_grad=1.0),
    loss={**_LONG_LOSS, "point": False, "track": False},
    precision="auto",
    steps=1802,
    max_minutes=95.0,
    out_dir="runs/vggt-small-long",
    log_every=10,
    ckpt_every=100,
    val_every=150,
    keep_last=3,
)

SMALL_SYNTHETIC_LONG_POINT = dataclasses.replace(
    SMALL_SYNTHETIC_LONG,
    init="runs/vggt-small-long/model.safetensors",
    loss={**_LONG_LOSS, "track": False},
    steps=881,
    max_minutes=80.0,
    out_dir="runs/vggt-small-long-point",
)

SMALL_SYNTHETIC_LONG_HEADS = dataclasses.replace(
    SMALL_SYNTHETIC_LONG,
    init="runs/vggt-small-long-point/model.safetensors",
    data=dataclasses.replace(SMALL_SYNTHETIC_LONG.data, min_height=140, track_num=64),  # tracks need >= 128 px
    loss=_LONG_LOSS,
    steps=1_000_000,
    max_minutes=72.0,
    out_dir="runs/vggt-small-long-heads",
    ckpt_every=50,
)

# 4. `small-synthetic-long-cont` (sixth session): the shipped weights (stages 1-3) trained on for 70 minutes on
#    2,048 scenes of a seed no stage has seen (3; render them first, benchmarks/long_run_cont.sh), all four heads,
#    a fresh optimiser with a 2 % warm-up. Continuing where the depth curve was still falling (AbsRel 0.355 ->
#    0.228 over stages 1-3) with fresh scenes instead of a fifth pass over seed 1's. It ran 865 steps (12,882
#    frames) and ended where it started (validation AbsRel 0.228, cameras unchanged; docs/training_study.md
#    section 17), so it was not shipped.
SMALL_SYNTHETIC_LONG_CONT = dataclasses.replace(
    SMALL_SYNTHETIC_LONG_HEADS,
    init="default",
    data=dataclasses.replace(SMALL_SYNTHETIC_LONG_HEADS.data, root="data/synth_long3"),
    optim=dataclasses.replace(SMALL_SYNTHETIC_LONG_HEADS.optim, warmup_frac=0.02),
    max_minutes=70.0,
    out_dir="runs/vggt-small-long-cont",
)

# One H100/H200 with 16 cores, one 10-minute call (benchmarks/gpu_train.sh): the script first renders fresh scenes
# (seed 2) with every core for a few minutes, then trains all four heads on them at once with bf16 autocast;
# data.root and max_minutes are set by the script. On-the-fly rendering (data.source=synthetic) would starve the
# GPU: ~6 frames/s per core.
SMALL_SYNTHETIC_GPU = dataclasses.replace(
    SMALL_SYNTHETIC_LONG_HEADS,
    # the patch convolution with sine-cosine positions: without them no token value carries where its patch is,
    # so a global-attention match cannot report a displacement (docs/training_study.md section 11)
    model={**SMALL_CONV_ALL_HEADS, "patch_embed": {**SMALL_CONV_ALL_HEADS["patch_embed"], "pos_embed": "sincos"}},
    init=None,
    data=dataclasses.replace(
        SMALL_SYNTHETIC_LONG_HEADS.data, root="data/synth_gpu", frames_per_batch=48, num_workers=12
    ),
    optim=dataclasses.replace(SMALL_SYNTHETIC_LONG.optim, lr=4e-4, warmup_frac=0.05),
    # the attention-match loss took the trunk's global attention from chance to matching within minutes on the CPU
    # (docs/training_study.md section 10), which no other loss did in ~63 k frames
    loss={**_LONG_LOSS, "attn_match_weight": 0.5},
    max_minutes=6.0,
    out_dir="runs/vggt-small-gpu",
    ckpt_every=250,
    val_every=1_000_000,  # validated once, at the end
)

# The released fine-tuning recipe: frozen aggregator, camera + depth heads, L1 camera loss.
FINETUNE_1B = TrainConfig(
    model="vggt-1b",
    init="facebook/VGGT-1B",
    data=DataConfig(image_size=518, frames_per_batch=48, min_frames=2, max_frames=24),
    optim=OptimConfig(lr=5e-5, weight_decay=0.05, freeze=("aggregator.*",), accum_steps=2),
    loss="released",
    steps=16_000,
    precision="auto",
    grad_checkpointing=True,
    out_dir="runs/finetune-1b",
)

# Seconds-long run for tests and smoke checks.
DEBUG_TINY = TrainConfig(
    model="vggt-tiny",
    data=DataConfig(image_size=56, frames_per_batch=4, min_frames=2, max_frames=2, num_workers=0),
    optim=OptimConfig(lr=1e-3, warmup_frac=0.2),
    steps=6,
    out_dir="runs/debug-tiny",
    log_every=1,
    ckpt_every=2,
)

TRAIN_PRESETS: dict[str, TrainConfig] = {
    "small-synthetic": SMALL_SYNTHETIC,
    "small-synthetic-long": SMALL_SYNTHETIC_LONG,
    "small-synthetic-long-point": SMALL_SYNTHETIC_LONG_POINT,
    "small-synthetic-long-heads": SMALL_SYNTHETIC_LONG_HEADS,
    "small-synthetic-long-cont": SMALL_SYNTHETIC_LONG_CONT,
    "small-synthetic-gpu": SMALL_SYNTHETIC_GPU,
    "finetune-1b": FINETUNE_1B,
    "debug-tiny": DEBUG_TINY,
}

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "TRAIN_PRESETS", "replace"]
