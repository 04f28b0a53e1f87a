"""Training batches as a pure function of (seed, rank, batch number), so resuming replays exactly.

Batch ``n`` of a rank is batch ``n % len(sampler)`` of epoch ``n // len(sampler)`` of
:class:`~openvggt.data.dataset.DynamicBatchSampler`; every sample carries its own seed, so neither
the number of workers nor a restart changes what is drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import torch
from torch.utils.data import DataLoader, Sampler

from openvggt.data.dataset import DynamicBatchSampler, SceneDataset, SyntheticScenes, scene_folders, seed_worker
from openvggt.data.sample import SampleConfig
from openvggt.data.synth.synthetic import VAL_SEED, SynthConfig
from openvggt.train.config import TrainConfig


def sample_config(cfg: TrainConfig, patch_size: int, augment: bool = True) -> SampleConfig:
    d = cfg.data
    return SampleConfig(
        img_size=d.image_size,
        min_height=min(d.min_height, d.image_size),
        patch=patch_size,
        min_frames=d.min_frames,
        max_frames=d.max_frames,
        augment=augment and d.augment,
        track_num=d.track_num,
    )


def scenes_for(cfg: TrainConfig, seed: int | None = None, num_scenes: int | None = None):  # noqa: ANN201
    d = cfg.data
    if d.source == "folder":
        if not d.root:
            raise ValueError("data.source='folder' needs data.root")
        scenes = scene_folders(d.root)
        if not scenes:
            raise ValueError(f"no scenes (folders with cameras.json, rgb.txt or sparse/) under {d.root}")
        return scenes
    if d.source != "synthetic":
        raise ValueError(f"unknown data.source {d.source!r} (synthetic or folder)")

    synth = SynthConfig(
        num_frames=max(d.max_frames, 8), size=d.image_size, family=d.families[0] if d.families else None
    )
    return SyntheticScenes(seed=d.seed if seed is None else seed, num_scenes=num_scenes or d.num_scenes, config=synth)


class _FromBatch(Sampler[list]):
    """Yields the sampler's batches from global batch number ``start`` onwards, epoch after epoch."""

    def __init__(self, inner: DynamicBatchSampler, start: int):
        self.inner, self.start = inner, start

    def __iter__(self) -> Iterator[list]:
        n = len(self.inner)
        epoch, skip = divmod(self.start, n)
        for e in itertools.count(epoch):
            self.inner.set_epoch(e)
            yield from itertools.islice(iter(self.inner), skip, None)
            skip = 0

    def __len__(self) -> int:  # infinite in practice; DataLoader only needs it for len()
        return 2**62


def collate(samples: list[dict]) -> dict:
    out: dict = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if torch.is_tensor(values[0]) else values
    return out


def step_batches(cfg: TrainConfig, rank: int, world: int, start_step: int, patch_size: int) -> Iterator[dict]:
    """Endless iterator of batches for optimiser steps ``start_step, start_step + 1, ...``."""
    d = cfg.data
    scfg = sample_config(cfg, patch_size)
    dataset = SceneDataset(scenes_for(cfg), scfg)
    sampler = DynamicBatchSampler(len(dataset), scfg, d.frames_per_batch, seed=cfg.seed, rank=rank, world_size=world)
    loader = DataLoader(
        dataset,
        batch_sampler=_FromBatch(sampler, start_step * cfg.optim.accum_steps),
        num_workers=d.num_workers,
        collate_fn=collate,
        worker_init_fn=seed_worker,
        persistent_workers=d.num_workers > 0,
        prefetch_factor=2 if d.num_workers > 0 else None,
    )
    return iter(loader)


def validation_batches(cfg: TrainConfig, patch_size: int, frames: int = 8) -> list[dict]:
    """Fixed held-out synthetic samples (no augmentation) for validation during training.

    Always the engine's ``VAL_SEED`` split, whatever ``data.source`` is: never training scenes.
    """

    d = cfg.data
    scfg = replace(sample_config(cfg, patch_size, augment=False), min_frames=frames, max_frames=frames)
    synth = SynthConfig(num_frames=frames, size=d.image_size)
    dataset = SceneDataset(SyntheticScenes(seed=VAL_SEED, num_scenes=d.val_scenes, config=synth), scfg)
    return [collate([dataset[i]]) for i in range(len(dataset))]
