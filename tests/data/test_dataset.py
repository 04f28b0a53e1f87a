"""Dataset, dynamic batch sampler (DDP-style ranks, epochs), worker-independent samples, and the CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from openvggt.data.cli import add_synth_parser, main, run_synth
from openvggt.data.dataset import DynamicBatchSampler, SampleIndex, SceneDataset, SyntheticScenes, scene_folders
from openvggt.data.sample import SampleConfig
from openvggt.data.synth.synthetic import SynthConfig

CFG = SampleConfig(img_size=42, min_height=28, min_frames=2, max_frames=4, track_num=16)


def test_batches_have_a_fixed_frame_budget():
    cfg = SampleConfig()
    sampler = DynamicBatchSampler(1000, cfg, frames_per_batch=48, seed=1)
    sizes = set()
    for batch in sampler:
        S, H = batch[0].num_frames, batch[0].height
        assert all(item.num_frames == S and item.height == H for item in batch)
        assert 2 <= S <= 24 and H in cfg.heights
        assert len(batch) == max(1, 48 // S)
        sizes.add(S)
    assert len(sizes) > 5


def test_ranks_split_scenes_and_agree_on_shapes():
    kwargs = dict(num_scenes=50, config=CFG, frames_per_batch=8, seed=3, world_size=2)
    r0, r1 = DynamicBatchSampler(rank=0, **kwargs), DynamicBatchSampler(rank=1, **kwargs)
    assert len(r0) == len(r1)
    b0, b1 = list(r0), list(r1)
    assert [(b[0].num_frames, b[0].height) for b in b0] == [(b[0].num_frames, b[0].height) for b in b1]
    s0 = [i.scene for b in b0 for i in b][:25]
    s1 = [i.scene for b in b1 for i in b][:25]
    assert not set(s0) & set(s1) and set(s0) | set(s1) == set(range(50))


def test_epochs_reshuffle_reproducibly():
    sampler = DynamicBatchSampler(40, CFG, frames_per_batch=8, seed=5)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(DynamicBatchSampler(40, CFG, frames_per_batch=8, seed=6)) != first


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        DynamicBatchSampler(10, CFG, rank=2, world_size=2)
    with pytest.raises(ValueError, match="scene"):
        DynamicBatchSampler(0, CFG)


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if torch.is_tensor(a[k]):
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
        else:
            assert a[k] == b[k]


def test_samples_do_not_depend_on_workers(written_scenes):
    ds = SceneDataset(written_scenes, CFG)
    sampler = DynamicBatchSampler(len(ds), CFG, frames_per_batch=6, seed=2, batches_per_epoch=3)
    serial = list(DataLoader(ds, batch_sampler=sampler, num_workers=0))
    parallel = list(DataLoader(ds, batch_sampler=sampler, num_workers=2, multiprocessing_context="fork"))
    assert len(serial) == 3
    for a, b in zip(serial, parallel):
        _same(a, b)
    B, S = serial[0]["images"].shape[:2]
    assert B * S <= 6 and serial[0]["images"].shape[-1] == 42


def test_on_the_fly_scenes_match_the_written_ones(tiny_scenes, written_scenes):
    """SyntheticScenes renders lazily what `openvggt synth` would write (PNG/npy are lossless)."""
    live = SceneDataset(
        SyntheticScenes(7, 1, SynthConfig(num_frames=4, size=64, family="indoor", photometric=False)), CFG
    )
    disk = SceneDataset([written_scenes[0]], CFG)
    idx = SampleIndex(0, 3, 28, 1234)
    _same(live[idx], disk[idx])


def test_integer_index_gives_unaugmented_full_sample(written_scenes):
    ds = SceneDataset(written_scenes, CFG)
    a, b = ds[1], ds[1]
    _same(a, b)
    assert a["images"].shape == (4, 3, 42, 42)


def test_scene_folders_lists_scenes_only(tmp_path, written_scenes):
    (written_scenes[0].parent / "not_a_scene").mkdir(exist_ok=True)
    assert scene_folders(written_scenes[0].parent) == sorted(written_scenes)


def test_cli_writes_scenes_and_resumes(tmp_path, caplog):
    parser = argparse.ArgumentParser()
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "synth"
    args = parser.parse_args(
        ["synth", str(out), "--scenes", "2", "--frames", "2", "--seed", "4", "--size", "32", "--family", "object"]
    )
    assert run_synth(args) == 0
    scenes = sorted(p.name for p in out.iterdir())
    assert scenes == ["seed4_00000_object", "seed4_00001_object"]
    meta = json.loads((out / scenes[1] / "cameras.json").read_text())
    assert meta["generator"]["seed"] == 4 and len(meta["frames"]) == 2
    png = out / scenes[0] / "images" / "0001.png"
    stamp = png.stat().st_mtime_ns
    assert (
        main(["synth", str(out), "--scenes", "2", "--frames", "2", "--seed", "4", "--size", "32", "--family", "object"])
        == 0
    )
    assert png.stat().st_mtime_ns == stamp  # complete scenes are skipped
    with pytest.raises(SystemExit):
        parser.parse_args(["synth", str(out), "--family", "moon"])
    assert run_synth(parser.parse_args(["synth", str(out), "--scenes", "0"])) == 2
    assert np.load(out / scenes[1] / "depth" / "0000.npy").shape == (
        meta["frames"][0]["height"],
        meta["frames"][0]["width"],
    )


def test_generate_rerenders_scenes_from_other_settings(tmp_path):
    from openvggt.data.synth.synthetic import generate

    cfg = SynthConfig(num_frames=2, size=32, family="object")
    (first,) = generate(tmp_path, 1, seed=9, config=cfg)
    stamp = (first / "cameras.json").stat().st_mtime_ns
    assert generate(tmp_path, 1, seed=9, config=cfg) == [first]
    assert (first / "cameras.json").stat().st_mtime_ns == stamp
    (again,) = generate(tmp_path, 1, seed=9, config=SynthConfig(num_frames=3, size=32, family="object"))
    assert again == first and len(json.loads((first / "cameras.json").read_text())["frames"]) == 3


def test_generate_does_not_reuse_a_scene_of_another_family(tmp_path):
    """A mixed run and a single-family run into one folder: each gets scenes of its own family."""
    from openvggt.data.synth.synthetic import generate, scene_family

    mixed = SynthConfig(num_frames=1, size=24)
    index = next(i for i in range(20) if scene_family(3, i, mixed) != "object")
    (other,) = generate(tmp_path, 1, seed=3, config=mixed, start=index)
    (obj,) = generate(tmp_path, 1, seed=3, config=SynthConfig(num_frames=1, size=24, family="object"), start=index)
    assert obj != other and obj.name.endswith("_object")
    assert json.loads((obj / "cameras.json").read_text())["generator"]["family"] == "object"
