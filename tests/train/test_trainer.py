"""Trainer: schedule, config overrides, exact resume after a real kill, DDP consistency, guards."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from openvggt.train.config import DEBUG_TINY, TrainConfig
from openvggt.train.trainer import Trainer, lr_at

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    from openvggt.cli import main

    root = tmp_path_factory.mktemp("synth")
    assert main(["synth", str(root), "--scenes", "3", "--frames", "4", "--seed", "0", "--size", "64"]) == 0
    return root


def _cfg(scenes: Path, out: Path, **over) -> TrainConfig:
    args = ["data.source=folder", f"data.root={scenes}", f"out_dir={out}", "data.image_size=56"]
    return DEBUG_TINY.override(args + [f"{k}={json.dumps(v)}" for k, v in over.items()])


def _losses(out: Path) -> dict[int, float]:
    rows = {}
    for line in (out / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rows[rec["step"]] = rec["objective"]  # a replayed step overwrites the killed run's entry
    return rows


def _cli(*args: str, env=None) -> list[str]:
    return [sys.executable, "-m", "openvggt.cli", "train", *args, "--no-progress"]


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=100, optim=TrainConfig().optim.__class__(lr=1.0, min_lr=0.0, warmup_frac=0.1))
    assert lr_at(0, cfg) == 0.0
    assert lr_at(5, cfg) == pytest.approx(0.5)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, cfg) == pytest.approx(0.0, abs=1e-12)
    no_warmup = cfg.override(["optim.warmup_frac=0"])
    assert lr_at(0, no_warmup) == pytest.approx(1.0)


def test_overrides_and_presets():
    cfg = TrainConfig.load("small-synthetic").override(["steps=7", "optim.lr=0.5", 'data.families=["indoor"]'])
    assert cfg.steps == 7 and cfg.optim.lr == 0.5 and cfg.data.families == ("indoor",)
    with pytest.raises(ValueError, match="unknown"):
        cfg.override(["optim.learning_rate=1"])
    with pytest.raises(ValueError, match="key=value"):
        cfg.override(["steps"])
    with pytest.raises(ValueError, match="neither a training preset"):
        TrainConfig.load("no-such-preset")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_resume_after_sigkill_replays_the_same_losses(scenes, tmp_path):
    base = ["data.source=folder", f"data.root={scenes}", "data.image_size=56", "steps=6", "ckpt_every=2"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(_cli("debug-tiny", *base, f"out_dir={full}"), check=True, capture_output=True, timeout=300)
    # Start the same run, kill it with SIGKILL once its second checkpoint exists, then resume.
    proc = subprocess.Popen(
        _cli("debug-tiny", *base, f"out_dir={cut}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not (cut / "checkpoints" / "step_00000004.pt").exists():
        assert proc.poll() is None, "run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (cut / "model.safetensors").exists()
    subprocess.run(
        _cli("debug-tiny", *base, f"out_dir={cut}", "--resume"), check=True, capture_output=True, timeout=300
    )
    a, b = _losses(full), _losses(cut)
    assert sorted(a) == sorted(b) == list(range(1, 7))
    assert a == b  # bit-identical: same batches, same RNG, same optimiser state


@pytest.mark.parametrize("budget", ["max_minutes=0", "max_minutes=0.02"])  # a clock: lr and stop by time
def test_two_process_ddp_keeps_ranks_identical(scenes, tmp_path, budget):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "openvggt.cli", "train", "debug-tiny", "data.source=folder", f"data.root={scenes}",
        "data.image_size=56", "steps=3" if budget == "max_minutes=0" else "steps=100000", budget, f"out_dir={out}",
        "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    digests = [(out / f"weights_rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    # ... and training did move the weights away from the initialisation.
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["grad_norm"] > 0


def test_non_finite_loss_skips_the_update(scenes, tmp_path, monkeypatch):
    import openvggt.train.trainer as trainer_mod

    trainer = Trainer(_cfg(scenes, tmp_path / "nan"), progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    real = trainer_mod.total_loss

    def poisoned(preds, batch, cfg):
        loss, terms = real(preds, batch, cfg)
        return loss * float("nan"), terms

    monkeypatch.setattr(trainer_mod, "total_loss", poisoned)
    from openvggt.train.data import step_batches

    logs = trainer.train_step(step_batches(trainer.cfg, 0, 1, 0, 14))
    assert logs["skipped"] == 1.0 and trainer.skipped_steps == 1
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_frozen_aggregator_and_init_from_checkpoint(scenes, tmp_path):
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model
    from openvggt.train.data import step_batches

    init = save_model(random_model(VGGTConfig.preset("vggt-tiny"), seed=9), tmp_path / "init.safetensors")
    cfg = _cfg(
        scenes, tmp_path / "ft", init=str(init), optim={"lr": 1e-2, "warmup_frac": 0.0, "freeze": ["aggregator.*"]}
    )
    trainer = Trainer(cfg, progress=False)
    loaded = random_model(VGGTConfig.preset("vggt-tiny"), seed=9).state_dict()
    assert torch.equal(
        trainer.model.state_dict()["camera_head.embed_pose.weight"], loaded["camera_head.embed_pose.weight"]
    )
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_step(step_batches(cfg, 0, 1, 0, 14))
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("aggregator."))
    assert not torch.equal(before["depth_head.norm.weight"], after["depth_head.norm.weight"])
    assert not trainer.model.aggregator.training


def test_init_without_a_head_starts_that_head_fresh_and_copies_the_rest(scenes, tmp_path):
    """Stage 2 of a staged recipe: a camera + depth model initialises a model that also trains the point head."""
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import init_weights_, random_model
    from openvggt.models.vggt import VGGT
    from openvggt.train.trainer import load_init_weights

    tiny = VGGTConfig.preset("vggt-tiny")
    src = random_model(tiny.with_heads(point=False, track=False), seed=9)
    init = save_model(src, tmp_path / "cam_depth.safetensors")
    cfg = _cfg(scenes, tmp_path / "stage2", init=str(init), loss={"point": True, "track": False})
    trainer = Trainer(cfg, progress=False)
    assert trainer.model.enabled_heads() == ("camera", "depth", "point")
    got, want = trainer.model.state_dict(), src.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # trunk, camera and depth heads copied
    ref = VGGT(trainer.model.config)
    init_weights_(ref, seed=cfg.seed)  # what the point head would be without an init
    ref_state = ref.state_dict()
    assert all(torch.equal(got[k], ref_state[k]) for k in got if k.startswith("point_head."))

    # a trunk that differs is an error naming the parameter, not a silent partial load
    other = random_model(replace(tiny, embed_dim=32, num_heads=2).with_heads(point=False, track=False), seed=1)
    bad = save_model(other, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="does not match the model config.*shape differs"):
        load_init_weights(random_model(tiny, seed=0), str(bad))


def test_training_checkpoint_converts_and_loads_safely(scenes, tmp_path):
    """A checkpoint is loadable with weights_only=True and carries the model config for conversion."""
    from openvggt.cli import main
    from openvggt.io.checkpoint import load_model

    trainer = Trainer(_cfg(scenes, tmp_path / "ck", steps=1), progress=False)
    path = trainer.save_checkpoint()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 0 and "optimizer" in state
    dst = tmp_path / "m.safetensors"
    assert main(["convert", str(path), str(dst), "--dtype", "fp16"]) == 0
    model = load_model(dst)
    assert model.config == trainer.model.config


def test_validation_uses_held_out_synthetic_scenes_even_when_training_from_a_folder(scenes, tmp_path):
    from openvggt.data.synth.synthetic import VAL_SEED
    from openvggt.train.data import validation_batches

    cfg = _cfg(
        scenes, tmp_path / "v", data={"source": "folder", "root": str(scenes), "val_scenes": 1, "image_size": 56}
    )
    (batch,) = validation_batches(cfg, 14, frames=2)
    assert batch["seq_name"][0].startswith(f"seed{VAL_SEED}_")
    assert batch["images"].shape[:2] == (1, 2)


@pytest.mark.parametrize(
    ("native", "requested", "expected"),
    [(True, "auto", "bf16"), (False, "auto", "fp32"), (False, "bf16", "bf16"), (True, "fp32", "fp32")],
)
def test_precision_follows_the_cpu_capability(tmp_path, monkeypatch, native, requested, expected):
    """auto = bf16 autocast only on CPUs with native bf16 (fp32 on AVX2-only ones, where bf16 is ~100x slower);
    an explicit bf16 on such a CPU is honoured with a warning. The shipped presets use auto."""
    import warnings

    from openvggt import runtime

    cap = runtime.CpuCapability("AVX512" if native else "AVX2", native, native, native, None)
    monkeypatch.setattr(runtime, "cpu_capability", lambda: cap)
    monkeypatch.setattr(runtime, "_warned", set())
    cfg = DEBUG_TINY.override([f"out_dir={tmp_path}", f"precision={requested}", "device=cpu"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(cfg, progress=False)
    assert trainer.precision == expected
    slow_warning = any("emulated" in str(w.message) for w in caught)
    assert slow_warning == (requested == "bf16" and not native)
    x = torch.ones(4, 4)
    with trainer.autocast:
        y = torch.nn.functional.linear(x, x)
    assert y.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)
    from openvggt.train.config import TRAIN_PRESETS

    assert all(p.precision == "auto" for n, p in TRAIN_PRESETS.items() if n.startswith("small-synthetic"))


def test_int8_is_not_a_training_precision(tmp_path):
    with pytest.raises(ValueError, match="inference only"):
        Trainer(DEBUG_TINY.override([f"out_dir={tmp_path}", "precision=int8", "device=cpu"]), progress=False)


def test_track_supervision_below_128_px_fails_before_training(tmp_path):
    cfg = DEBUG_TINY.override([f"out_dir={tmp_path}", "data.image_size=112", "data.track_num=8"])
    with pytest.raises(ValueError, match="at least 128 px"):
        Trainer(cfg, progress=False)


def test_time_budget_stops_training_and_drives_the_schedule(scenes, tmp_path):
    cfg = TrainConfig(steps=1000, max_minutes=10.0, optim=TrainConfig().optim.__class__(lr=1.0, min_lr=0.0))
    assert lr_at(0, cfg, 0.0) == 0.0
    assert lr_at(3, cfg, 15.0) == pytest.approx(0.5)  # half of the 5 % warm-up (30 s) done
    assert lr_at(3, cfg, 600.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500, cfg) == lr_at(500, replace(cfg, max_minutes=0.0))  # without a clock: by steps

    run = _cfg(scenes, tmp_path / "timed", steps=10_000, max_minutes=0.02, ckpt_every=10_000)
    trainer = Trainer(run, progress=False)
    trainer.fit()
    assert 0 < trainer.step < 10_000 and trainer.train_seconds >= 1.2
    state = torch.load(sorted((tmp_path / "timed" / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    assert state["step"] == trainer.step and state["train_seconds"] == pytest.approx(trainer.train_seconds)
    resumed = Trainer(run, resume=True, progress=False)
    assert resumed.train_seconds == pytest.approx(trainer.train_seconds) and resumed._out_of_time()
