"""The training loop: AdamW + warm-up/cosine, autocast, accumulation, clipping, DDP, exact resume.

Exact resume: the learning rate is a pure function of the step, the batch of step k is a pure function
of (seed, rank, k) (see :mod:`openvggt.train.data`), and checkpoints hold model, optimiser, scaler
and RNG states; so a run killed after checkpoint k and resumed replays steps k+1.. identically.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import math
import os
import pickle
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import openvggt.runtime as runtime
from openvggt.io.checkpoint import save_model
from openvggt.models.init import init_weights_
from openvggt.models.pretrained import read_state_dict, resolve_source
from openvggt.models.vggt import HEADS, VGGT
from openvggt.train.attn_match import AttentionMatch, CameraMatch, TokenMotion, batch_queries, match_motion
from openvggt.train.config import TrainConfig
from openvggt.train.data import step_batches
from openvggt.train.losses import total_loss
from openvggt.train.validate import validate

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- helpers
def lr_at(step: int, cfg: TrainConfig, train_seconds: float | None = None) -> float:
    """Linear warm-up from ``min_lr`` to ``lr`` over ``warmup_frac`` of training, then cosine to ``min_lr``.

    With ``cfg.max_minutes > 0`` and ``train_seconds`` given, "training" is the time budget: the
    schedule follows the elapsed fraction of it (or of the steps, whichever is further along).
    """
    o = cfg.optim
    if cfg.max_minutes > 0 and train_seconds is not None:
        done = max(train_seconds / (60.0 * cfg.max_minutes), step / max(1, cfg.steps))
        if done < o.warmup_frac:
            return o.min_lr + (o.lr - o.min_lr) * done / o.warmup_frac
        u = (done - o.warmup_frac) / max(1e-9, 1 - o.warmup_frac)
        return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, u)))
    warm = int(round(o.warmup_frac * cfg.steps))
    if step < warm:
        return o.min_lr + (o.lr - o.min_lr) * step / warm
    u = (step - warm) / max(1, cfg.steps - warm)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, u)))


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the ``torchrun`` process group if there is one (NCCL on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return info


def resolve_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global state third-party code draws from
    torch.manual_seed(seed)


def apply_freeze(model: nn.Module, patterns: tuple[str, ...]) -> list[str]:
    """Freeze parameters whose names match any glob; return the frozen names."""
    frozen = []
    for name, p in model.named_parameters():
        if any(fnmatch.fnmatch(name, pat) for pat in patterns):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def frozen_modules(model: nn.Module, patterns: tuple[str, ...]) -> list[nn.Module]:
    """Modules all of whose parameters are frozen by ``patterns`` (kept in eval mode)."""
    out = []
    for name, module in model.named_modules():
        params = list(module.parameters())
        if name and params and all(not p.requires_grad for p in params):
            if any(fnmatch.fnmatch(name + ".x", pat) for pat in patterns):
                out.append(module)
    return out


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: no weight decay on vectors (norms, biases, tokens); per-prefix lr multipliers."""
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mult = 1.0
        for prefix, m in cfg.optim.lr_mult.items():
            if name.startswith(prefix):
                mult = m
        decay = p.ndim >= 2 and not name.endswith(("_token", "tokens", "pos_embed"))
        groups.setdefault((mult, decay), []).append(p)
    return [
        {"params": ps, "lr_mult": mult, "weight_decay": cfg.optim.weight_decay if decay else 0.0}
        for (mult, decay), ps in groups.items()
    ]


def resolve_precision(device: torch.device, precision: str) -> str:
    """The training precision for ``precision`` on ``device``, by :mod:`openvggt.runtime`'s rules:
    ``auto`` is bf16 on CUDA (fp16 without bf16 support) and on CPUs with native bf16 (AVX-512-BF16 /
    AMX), fp32 on other CPUs, where bf16 runs ~100x slower; an explicit ``bf16`` there is kept and
    warned about. int8 is an inference precision and is refused."""
    name = runtime.resolve_dtype(precision, device)
    if name == "int8":
        raise ValueError("precision int8 is for inference only; train with auto, fp32, bf16 or fp16")
    return name


def _autocast(device: torch.device, precision: str):  # noqa: ANN202
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False), None
    dtype = runtime.torch_dtype(precision)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return torch.autocast(device.type, dtype=dtype), scaler


def _rng_state() -> dict:
    """RNG states as tensors and plain Python values, so checkpoints load with ``weights_only=True``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def latest_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted(out_dir.glob("checkpoints/step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return ckpts[-1] if ckpts else None


# ---------------------------------------------------------------------------------------------- trainer
class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True):
        self.cfg = cfg
        self.dist = init_distributed(
            cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.device = resolve_device(cfg.device, self.dist)
        self.out_dir = Path(cfg.out_dir)
        self.progress = progress and self.dist.main
        seed_everything(cfg.seed + self.dist.rank)
        self.loss_cfg = cfg.loss_config()
        self.model = self._build_model()
        # Supervise exactly the heads the model has (no track data -> no track head, no track loss).
        heads = self.model.enabled_heads()
        self.loss_cfg = replace(self.loss_cfg, **{h: getattr(self.loss_cfg, h) and h in heads for h in HEADS})
        self.frozen = apply_freeze(self.model, cfg.optim.freeze)
        self.frozen_modules = frozen_modules(self.model, cfg.optim.freeze)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg), lr=cfg.optim.lr, betas=cfg.optim.betas)
        self.precision = resolve_precision(self.device, cfg.precision)
        self.autocast, self.scaler = _autocast(self.device, self.precision)
        log.info("training in %s on %s", self.precision, runtime.describe_device(self.device))
        self.step = 0
        self.skipped_steps = 0
        self.train_seconds = 0.0  # wall time spent in training steps, carried across resumes
        self.frames_seen = 0  # training frames over all ranks, carried across resumes
        if resume:
            self._resume()
        self.ddp = self.model
        if self.dist.world > 1:
            kwargs = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            self.ddp = nn.parallel.DistributedDataParallel(self.model, **kwargs)
        self.writer = None

    def _build_model(self) -> VGGT:
        cfg = self.cfg
        mcfg = cfg.model_config()
        want_track = self.loss_cfg.track and cfg.data.track_num > 0
        if want_track and mcfg.enable_track:
            d = cfg.data
            smallest = min(-(-min(d.min_height, d.image_size) // mcfg.patch_size) * mcfg.patch_size, d.image_size)
            if smallest < 128:  # the track head's correlation pyramid needs 128 px a side (fail now, not at step k)
                raise ValueError(
                    f"track supervision needs sample heights of at least 128 px (data.min_height={d.min_height}, "
                    f"data.image_size={d.image_size}); raise them or set data.track_num=0"
                )
        mcfg = mcfg.with_heads(
            camera=mcfg.enable_camera and self.loss_cfg.camera,
            depth=mcfg.enable_depth and self.loss_cfg.depth,
            point=mcfg.enable_point and self.loss_cfg.point,
            track=mcfg.enable_track and want_track,
        )
        if self.loss_cfg.camera_match_weight > 0 and not (mcfg.enable_camera and mcfg.camera_head.motion == "match"):
            raise ValueError(
                "loss.camera_match_weight needs a camera head that matches patches: set model.camera_head.motion=match"
            )
        model = VGGT(mcfg)
        init_weights_(model, seed=cfg.seed)
        if cfg.init:
            fresh = load_init_weights(model, cfg.init)
            if fresh and self.dist.main:
                log.info("init %s lacks %s (initialised from scratch)", cfg.init, " / ".join(fresh))
        model.set_grad_checkpointing(cfg.grad_checkpointing)
        return model.to(self.device)

    # ------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        if not self.dist.main:
            return None
        ckpt_dir = self.out_dir / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = ckpt_dir / f"step_{self.step:08d}.pt"
        atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "step": self.step,
                "skipped_steps": self.skipped_steps,
                "train_seconds": self.train_seconds,
                "frames_seen": self.frames_seen,
                "rng": _rng_state(),
                "config": self.cfg.to_dict(),
                "model_config": self.model.config.to_dict(),  # lets convert/load_model rebuild the model
            },
            path,
        )
        for old in sorted(ckpt_dir.glob("step_*.pt"))[: -self.cfg.keep_last]:
            old.unlink(missing_ok=True)
        log.info("saved %s", path)
        return path

    def _resume(self) -> None:
        path = latest_checkpoint(self.out_dir)
        if path is None:
            log.info("no checkpoint in %s: starting at step 0", self.out_dir)
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # checkpoints of earlier versions pickled numpy RNG state
            log.warning("%s needs full unpickling (older checkpoint format); it is this run's own file", path)
            state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.frames_seen = int(state.get("frames_seen", 0))
        _set_rng_state(state["rng"])
        log.info("resumed from %s at step %d", path, self.step)

    # ------------------------------------------------------------------------------------------
    def _set_lr(self) -> float:
        lr = lr_at(self.step, self.cfg, self.train_seconds)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        return lr

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def _forward_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        queries = None
        if self.model.track_head is not None and "tracks" in batch:
            queries = batch["tracks"][:, 0]  # [B, N, 2] positions in frame 0
        # the training-only correspondence terms of train/attn_match.py: (name, weight, context manager)
        extra: list[tuple[str, float, AttentionMatch | TokenMotion | CameraMatch]] = []
        cfg = self.loss_cfg
        weights = (cfg.attn_match_weight, cfg.token_motion_weight, cfg.camera_match_weight)
        if max(weights) > 0 and "tracks" in batch:
            agg = self.model.aggregator
            scene, token, target, per_frame = batch_queries(batch, self.model.config.patch_size, agg.patch_start_idx)
            if cfg.attn_match_weight > 0:
                match = AttentionMatch(agg, scene, token, target, per_frame, agg.patch_start_idx)
                extra.append(("loss_attn_match", cfg.attn_match_weight, match))
            if cfg.token_motion_weight > 0:
                motion = match_motion(
                    batch["tracks"], batch["track_vis_mask"], batch.get("track_positive_mask"),
                    tuple(batch["images"].shape[-2:]),
                )  # fmt: skip
                extra.append(("loss_token_motion", cfg.token_motion_weight, TokenMotion(agg, scene, token, motion)))
            if cfg.camera_match_weight > 0:
                match = CameraMatch(self.model.camera_head, scene, token, target, per_frame, agg.patch_start_idx)
                extra.append(("loss_camera_match", cfg.camera_match_weight, match))
        with self.autocast, contextlib.ExitStack() as stack:
            for _, _, term in extra:
                stack.enter_context(term)
            preds = self.ddp(batch["images"], query_points=queries, track_logits=True)
        objective, terms = total_loss(preds, batch, self.loss_cfg)
        for name, weight, term in extra:
            if term.losses:
                terms[name] = term.loss()
                objective = objective + weight * terms[name]
                terms["objective"] = objective
        return objective, terms

    def train_step(self, batches: Iterator[dict]) -> dict[str, float]:
        self.ddp.train()
        for m in self.frozen_modules:
            m.eval()
        lr = self._set_lr()
        accum = self.cfg.optim.accum_steps
        frames = 0
        logged: dict[str, float] = {}
        finite = True
        data_s = 0.0
        for _ in range(accum):
            t0 = time.perf_counter()
            batch = self._to_device(next(batches))
            data_s += time.perf_counter() - t0  # time the loop waited for data (0 when workers keep up)
            frames += batch["images"].shape[0] * batch["images"].shape[1]
            loss, terms = self._forward_loss(batch)
            if not torch.isfinite(loss):
                finite = False
            scaled = loss / accum
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            for k, v in terms.items():
                logged[k] = logged.get(k, 0.0) + float(v.detach()) / accum
        finite = self._all_ranks_finite(finite)
        if finite:
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip_grad) if params else torch.tensor(0.0)
            )
            if torch.isfinite(grad_norm):
                if self.scaler:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
            else:
                finite = False
            logged["grad_norm"] = float(grad_norm)
        if not finite:
            self.skipped_steps += 1
            log.warning(
                "step %d: non-finite loss or gradient, update skipped (%d so far)", self.step, self.skipped_steps
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        logged.update(lr=lr, frames=frames, skipped=float(not finite), data_s=data_s)
        return logged

    def _all_ranks_finite(self, finite: bool) -> bool:
        if self.dist.world == 1:
            return finite
        flag = torch.tensor([0.0 if finite else 1.0], device=self.device)
        dist.all_reduce(flag)
        return bool(flag.item() == 0)

    # ------------------------------------------------------------------------------------------
    def fit(self) -> Path:
        from tqdm import tqdm

        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.dist.main:
            (self.out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
            self.writer = _tensorboard(self.out_dir / "tb")
        batches = step_batches(cfg, self.dist.rank, self.dist.world, self.step, self.model.config.patch_size)
        log_file = open(self.out_dir / "log.jsonl", "a") if self.dist.main else None  # noqa: SIM115
        stop = _StopFlag()
        total = None if cfg.max_minutes > 0 else cfg.steps  # a time budget: steps are only a cap
        bar = tqdm(total=total, initial=self.step, desc="train", disable=not self.progress)
        try:
            while self.step < cfg.steps and not stop.requested and not self._out_of_time():
                t0 = time.perf_counter()
                logs = self.train_step(batches)
                logs["step_time"] = time.perf_counter() - t0
                self._advance_clock(logs["step_time"])
                logs["train_seconds"] = self.train_seconds
                self.frames_seen += int(logs["frames"]) * self.dist.world
                logs["frames_seen"] = self.frames_seen
                logs["frames_per_s"] = logs["frames"] * self.dist.world / logs["step_time"]
                self._log(logs, log_file)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{logs['objective']:.3f}", lr=f"{logs['lr']:.1e}", fps=f"{logs['frames_per_s']:.1f}"
                )
                last = self.step == cfg.steps or stop.requested or self._out_of_time()
                if cfg.val_every and (self.step % cfg.val_every == 0 or last):
                    self.validate()
                if self.step % cfg.ckpt_every == 0 or last:
                    self.save_checkpoint()
        finally:
            bar.close()
            stop.restore()
            if log_file:
                log_file.close()
            if self.writer:
                self.writer.close()
        return self.export()

    def _advance_clock(self, seconds: float) -> None:
        """Add a step's time; under DDP every rank takes rank 0's clock, so the lr schedule and the
        time-budget stop are the same on all ranks (replicas must take identical steps)."""
        self.train_seconds += seconds
        if self.dist.world > 1 and self.cfg.max_minutes > 0:
            clock = torch.tensor([self.train_seconds], dtype=torch.float64, device=self.device)
            dist.broadcast(clock, 0)
            self.train_seconds = float(clock.item())

    def _out_of_time(self) -> bool:
        """``max_minutes`` of training time spent (0: no time budget)."""
        return self.cfg.max_minutes > 0 and self.train_seconds >= 60.0 * self.cfg.max_minutes

    def _log(self, logs: dict[str, float], log_file) -> None:  # noqa: ANN001
        if not self.dist.main:
            return
        if log_file and (self.step % self.cfg.log_every == 0 or self.step == 1):
            log_file.write(json.dumps({"step": self.step, **logs}) + "\n")
            log_file.flush()
        if self.writer:
            for k, v in logs.items():
                tag = f"loss/{k}" if k.startswith("loss") or k == "objective" else f"train/{k}"
                self.writer.add_scalar(tag, v, self.step)

    def validate(self) -> dict[str, float]:

        if not self.dist.main:
            return {}
        metrics = validate(self.model, self.cfg, self.device, writer=self.writer, step=self.step)
        row = {"step": self.step, "frames_seen": self.frames_seen, "train_seconds": round(self.train_seconds, 1)}
        with open(self.out_dir / "val.jsonl", "a") as f:
            f.write(json.dumps({**row, **metrics}) + "\n")
        return metrics

    def weights_digest(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def export(self) -> Path:
        """Final weights as ``model.safetensors`` (with the model config in its metadata)."""

        path = self.out_dir / "model.safetensors"
        if self.dist.world > 1:  # every rank records what it holds: replicas must agree
            (self.out_dir / f"weights_rank{self.dist.rank}.sha256").write_text(self.weights_digest())
        if self.dist.main:
            save_model(self.model, path, extra_metadata={"step": self.step})
        if self.dist.world > 1:
            dist.barrier()
        return path


class _StopFlag:
    """SIGTERM/SIGINT ask the loop to stop after the current step (and checkpoint)."""

    def __init__(self) -> None:
        self.requested = False
        self._old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _tensorboard(path: Path):  # noqa: ANN202
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: logging to log.jsonl only")
        return None
    return SummaryWriter(str(path))


# Optional modules inside a head (state-dict prefixes) that an init file may lack while having the head.
OPTIONAL_MODULES = ("camera_head.motion",)


def load_init_weights(model: VGGT, source: str) -> tuple[str, ...]:
    """Copy the weights of ``source`` into ``model`` (a fresh, initialised model) for fine-tuning.

    Every parameter of the trunk and of each head that ``source`` has must be there with the same shape;
    a head of ``model`` that ``source`` lacks entirely keeps its fresh initialisation (e.g. a track head
    added to a camera + depth model), and so does an optional module of a head that ``source`` lacks entirely
    (``camera_head.motion``, added to a trained camera head). Heads of ``source`` that ``model`` does not have
    are ignored. Returns the names of the heads and modules left fresh.
    """
    path, _ = resolve_source(source)
    state, _ = read_state_dict(path, torch.float32)
    own = model.state_dict()
    fresh = tuple(h for h in model.enabled_heads() if not any(k.startswith(f"{h}_head.") for k in state))
    fresh += tuple(
        m for m in OPTIONAL_MODULES
        if any(k.startswith(f"{m}.") for k in own) and not any(k.startswith(f"{m}.") for k in state)
    )  # fmt: skip
    fresh_prefixes = tuple(f"{h}_head." for h in fresh) + tuple(f"{m}." for m in fresh if "." in m)
    other_heads = tuple(f"{h}_head." for h in HEADS if h not in model.enabled_heads())
    missing = [k for k in own if k not in state and not k.startswith(fresh_prefixes)]
    unexpected = [k for k in state if k not in own and not k.startswith(other_heads)]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape differs", wrong))
            if keys
        )
        raise ValueError(f"init {source} does not match the model config ({detail})")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return fresh
