"""A training run of fixed wall time, evaluated against frames seen (for equal-compute comparisons).

    python benchmarks/timed_run.py small-synthetic --minutes 15 --out runs/study/baseline.jsonl \
        [--eval-every-s 120] [--eval-train K] [key=value ...]

Trains ``CONFIG`` (a preset or JSON file, with ``key=value`` overrides as for ``openvggt train``) for
``--minutes`` of wall time at a constant learning rate after a short warm-up (the cosine schedule
needs a known step count, an equal-compute comparison does not have one), and every
``--eval-every-s`` seconds of training appends one JSONL row: step, frames seen, training seconds,
the mean of the logged loss terms since the last row, held-out camera AUC@30 / RRA@15 / RTA@15 and
depth AbsRel on ``data.val_scenes`` scenes of the ``VAL_SEED`` split (8 frames), and with
``--eval-train K`` the same metrics on the first ``K`` *training* scenes (un-augmented, all their
frames): the overfit check. Evaluation time is not counted as training time.

The first row (``step 0``) is the untrained model. ``--profile N`` instead times ``N`` steps split
into data wait, forward + loss, backward and optimiser, and prints one JSON line; ``--data-only N`` times
``N`` batches of the data pipeline alone (with ``data.num_workers`` worker processes).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from openvggt.data.dataset import SceneDataset
from openvggt.data.sample import SampleConfig
from openvggt.train.config import TrainConfig
from openvggt.train.data import collate, sample_config, scenes_for, step_batches, validation_batches
from openvggt.train.trainer import Trainer
from openvggt.train.validate import evaluate

log = logging.getLogger("timed_run")


def training_scene_batches(cfg: TrainConfig, patch: int, k: int, frames: int = 8) -> list[dict]:
    """Un-augmented samples of the first ``k`` training scenes, ``frames`` frames each, full height."""
    scfg: SampleConfig = replace(sample_config(cfg, patch, augment=False), min_frames=frames, max_frames=frames)
    ds = SceneDataset(scenes_for(cfg), scfg)
    return [collate([ds[i]]) for i in range(min(k, len(ds)))]


def constant_lr(cfg: TrainConfig, warmup_steps: int) -> TrainConfig:
    """Effectively constant lr after ``warmup_steps``: a cosine over 10^7 steps."""
    steps = 10_000_000
    return replace(cfg, steps=steps, optim=replace(cfg.optim, warmup_frac=warmup_steps / steps, min_lr=cfg.optim.lr))


def profile(trainer: Trainer, n: int) -> dict:
    """Seconds per step in data wait, forward + loss, backward, optimiser (mean of ``n`` after one warm step)."""
    from openvggt.train.losses import total_loss

    cfg = trainer.cfg
    batches = step_batches(cfg, 0, 1, 0, trainer.model.config.patch_size)
    parts = {"data": [], "forward": [], "backward": [], "optimizer": []}
    frames = 0
    for i in range(n + 1):
        t0 = time.perf_counter()
        batch = trainer._to_device(next(batches))
        t1 = time.perf_counter()
        with trainer.autocast:
            queries = batch["tracks"][:, 0] if trainer.model.track_head is not None and "tracks" in batch else None
            preds = trainer.model(batch["images"], query_points=queries, track_logits=True)
        loss, _ = total_loss(preds, batch, trainer.loss_cfg)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), cfg.optim.clip_grad)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        if i:  # the first step pays for worker start-up and kernel compilation
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[key].append(dt)
            frames += batch["images"].shape[0] * batch["images"].shape[1]
    out = {f"{k}_s": sum(v) / len(v) for k, v in parts.items()}
    out["step_s"] = sum(out.values())
    out["frames_per_step"] = frames / n
    out["frames_per_s"] = frames / sum(sum(v) for v in parts.values())
    return out


def data_throughput(cfg: TrainConfig, n: int, patch: int = 14) -> dict:
    """Frames per second the configured data pipeline delivers (``data.num_workers`` processes), after one batch."""
    batches = step_batches(cfg, 0, 1, 0, patch)
    next(batches)  # worker start-up
    t0, frames = time.perf_counter(), 0
    for _ in range(n):
        b = next(batches)
        frames += b["images"].shape[0] * b["images"].shape[1]
    dt = time.perf_counter() - t0
    return {"batches": n, "frames": frames, "seconds": round(dt, 2), "frames_per_s": round(frames / dt, 2)}


def run(args: argparse.Namespace) -> int:
    cfg = TrainConfig.load(args.config).override(args.overrides)
    cfg = constant_lr(cfg, args.warmup_steps)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data_only:
        print(json.dumps({"config": args.config, "overrides": args.overrides, **data_throughput(cfg, args.data_only)}))
        return 0
    trainer = Trainer(cfg, progress=False)
    patch = trainer.model.config.patch_size
    if args.profile:
        row = {"config": args.config, "overrides": args.overrides, "precision": trainer.precision}
        row.update(profile(trainer, args.profile))
        print(json.dumps(row))
        return 0
    heldout = validation_batches(cfg, patch) if cfg.data.val_scenes > 0 else []
    train_eval = training_scene_batches(cfg, patch, args.eval_train) if args.eval_train else []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"run": args.name or Path(args.out).stem, "config": args.config, "overrides": args.overrides}
    meta.update(minutes=args.minutes, threads=args.threads)
    meta["precision"] = trainer.precision

    def record(f, step: int, frames: int, train_s: float, sums: dict, count: int) -> None:
        row = {**meta, "step": step, "frames_seen": frames, "train_s": round(train_s, 2)}
        row.update({k: v / max(count, 1) for k, v in sums.items()})
        t0 = time.perf_counter()
        if heldout:
            row.update({f"heldout_{k}": v for k, v in evaluate(trainer.model, heldout, trainer.device)[0].items()})
        if train_eval:
            per_scene = [evaluate(trainer.model, [b], trainer.device)[0] for b in train_eval]
            for k in per_scene[0]:
                row[f"train_{k}"] = sum(m[k] for m in per_scene) / len(per_scene)
            row["train_auc30_per_scene"] = {
                b["seq_name"][0]: round(m["auc30"], 1) for b, m in zip(train_eval, per_scene)
            }
        row["eval_s"] = round(time.perf_counter() - t0, 2)
        f.write(json.dumps(row) + "\n")
        f.flush()
        log.info("%s", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k not in meta})

    batches = step_batches(cfg, 0, 1, 0, patch)
    budget = 60.0 * args.minutes
    frames, train_s, next_eval = 0, 0.0, args.eval_every_s
    sums: dict[str, float] = {}
    count = 0
    with open(out, "a") as f:
        record(f, 0, 0, 0.0, {}, 0)
        while train_s < budget:
            t0 = time.perf_counter()
            logs = trainer.train_step(batches)
            train_s += time.perf_counter() - t0
            frames += int(logs["frames"])
            count += 1
            for k, v in logs.items():
                if k.startswith("loss") or k in ("objective", "grad_norm"):
                    sums[k] = sums.get(k, 0.0) + float(v)
            if train_s >= next_eval or train_s >= budget:
                record(f, trainer.step, frames, train_s, sums, count)
                sums, count = {}, 0
                next_eval = train_s + args.eval_every_s
    if args.save:
        trainer.export()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="training preset or JSON file")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--minutes", type=float, default=15.0, help="training wall time (evaluation excluded)")
    p.add_argument("--out", default="runs/study/run.jsonl", help="JSONL file the rows are appended to")
    p.add_argument("--name", default="", help="run name in every row (default: the --out file's stem)")
    p.add_argument("--eval-every-s", type=float, default=120.0, help="seconds of training between evaluations")
    p.add_argument("--eval-train", type=int, default=0, help="also evaluate on the first K training scenes")
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    p.add_argument("--profile", type=int, default=0, help="time N steps by phase and exit")
    p.add_argument("--data-only", type=int, default=0, help="time N batches of the data pipeline alone and exit")
    p.add_argument("--save", action="store_true", help="write out_dir/model.safetensors at the end")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
