"""``torch.utils.data`` plumbing: a scene dataset and a dynamic batch sampler for (DDP) training.

Typical use::

    scenes = scene_folders("data/synth_train")           # or SyntheticScenes(seed=0, num_scenes=10_000)
    ds = SceneDataset(scenes, SampleConfig(img_size=224, track_num=256))
    sampler = DynamicBatchSampler(len(ds), ds.config, frames_per_batch=48, seed=0, rank=rank,
                                  world_size=world_size)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=8, worker_init_fn=seed_worker)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader: ...  # dict of [B, S, ...] tensors, see openvggt.data.sample

Every batch has one frame count ``S`` and one image height (all ranks agree on them at each step,
so DDP steps stay balanced) and ``B = max(1, frames_per_batch // S)`` scenes. All randomness of a
sample comes from the seed carried in its :class:`SampleIndex`, so samples do not depend on the
number of workers or on which worker builds them.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from openvggt.data.readers import read_scene
from openvggt.data.sample import SampleConfig, build_sample, select_frames
from openvggt.data.scene import Scene
from openvggt.data.synth.synthetic import SynthConfig, generate_scene


class SampleIndex(NamedTuple):
    """What one sample is: scene index, number of frames, image height, and its random seed."""

    scene: int
    num_frames: int
    height: int
    seed: int


def scene_folders(root: str | Path) -> list[Path]:
    """Sorted scene folders under ``root`` (those holding cameras.json, rgb.txt or a sparse model)."""
    root = Path(root)
    marks = ("cameras.json", "rgb.txt", "sparse")
    return sorted(p for p in root.iterdir() if p.is_dir() and any((p / m).exists() for m in marks))


class SyntheticScenes(Sequence):
    """Synthetic scenes rendered on the fly: item ``i`` is scene ``i`` of ``seed``, frames rendered
    only when a sample asks for them."""

    def __init__(self, seed: int, num_scenes: int, config=None):

        self.seed, self.num_scenes = seed, num_scenes
        self.config = config or SynthConfig(num_frames=24)

    def __len__(self) -> int:
        return self.num_scenes

    def __getitem__(self, i: int) -> Scene:

        if not 0 <= i < self.num_scenes:
            raise IndexError(i)
        return generate_scene(self.seed, i, self.config).to_scene()


class SceneDataset(Dataset):
    """Training samples from a sequence of scenes (:class:`Scene` objects or scene folders, read
    on first use and cached per worker).

    Index with a :class:`SampleIndex`; a plain ``int`` gives an un-augmented sample of scene
    ``i`` with ``config.max_frames`` frames (capped by the scene's length) at full height.
    """

    def __init__(self, scenes: Sequence[Scene | Path | str], config: SampleConfig | None = None, cache_size: int = 64):
        self.scenes = scenes
        self.config = config or SampleConfig()
        self._read = functools.lru_cache(maxsize=cache_size)(self._read_uncached)

    def __len__(self) -> int:
        return len(self.scenes)

    def scene(self, i: int) -> Scene:
        return self._read(i)

    def _read_uncached(self, i: int) -> Scene:
        item = self.scenes[i]
        return item if isinstance(item, Scene) else read_scene(item)

    def __getitem__(self, index: SampleIndex | int) -> dict:
        if isinstance(index, (int, np.integer)):
            scene = self.scene(int(index))
            num = min(self.config.max_frames, scene.num_frames)
            index = SampleIndex(int(index), num, self.config.img_size, 0)
            rng = np.random.default_rng(0)
            ids = select_frames(scene, num, rng, self.config.min_overlap, self.config.window)
            return build_sample(scene, ids, (index.height, self.config.img_size), None, self.config)
        scene = self.scene(index.scene)
        rng = np.random.default_rng(index.seed)
        ids = select_frames(scene, index.num_frames, rng, self.config.min_overlap, self.config.window)
        return build_sample(scene, ids, (index.height, self.config.img_size), rng, self.config)


class DynamicBatchSampler(Sampler[list[SampleIndex]]):
    """Batches with a fixed frame budget and a varying number of frames per scene.

    Each step draws ``S`` uniformly in ``[config.min_frames, config.max_frames]`` and a height from
    ``config.heights`` (the same on every rank: they depend on ``seed``, epoch and step only) and
    takes ``max(1, frames_per_batch // S)`` scenes from this rank's share of a per-epoch
    permutation, like ``DistributedSampler``. ``len()`` is the same on every rank.
    """

    def __init__(
        self,
        num_scenes: int,
        config: SampleConfig | None = None,
        frames_per_batch: int = 48,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        batches_per_epoch: int | None = None,
    ):
        if num_scenes < 1:
            raise ValueError("need at least one scene")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        config = config or SampleConfig()
        self.num_scenes, self.config, self.frames_per_batch = num_scenes, config, frames_per_batch
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.epoch = 0
        per_rank = math.ceil(num_scenes / world_size)
        sizes = [max(1, frames_per_batch // s) for s in range(config.min_frames, config.max_frames + 1)]
        self.batches_per_epoch = batches_per_epoch or max(1, math.ceil(per_rank / float(np.mean(sizes))))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _my_scenes(self) -> np.ndarray:
        order = np.arange(self.num_scenes)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_scenes)
        per_rank = math.ceil(self.num_scenes / self.world_size)
        padded = np.resize(order, per_rank * self.world_size)  # wrap around so every rank gets as many
        return padded[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[SampleIndex]]:
        mine = self._my_scenes()
        pos = 0
        heights = self.config.heights
        for step in range(self.batches_per_epoch):
            shared = np.random.default_rng([self.seed, self.epoch, step])
            S = int(shared.integers(self.config.min_frames, self.config.max_frames + 1))
            height = int(heights[shared.integers(len(heights))])
            batch = []
            for k in range(max(1, self.frames_per_batch // S)):
                seed = int(np.random.SeedSequence([self.seed, self.epoch, self.rank, step, k]).generate_state(1)[0])
                batch.append(SampleIndex(int(mine[pos % len(mine)]), S, height, seed))
                pos += 1
            yield batch


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` seeding Python, numpy and torch from the worker's torch seed (set by the
    DataLoader from its generator), for any randomness outside the per-sample seeds."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global state is what third-party code draws from)
    torch.manual_seed(seed)
