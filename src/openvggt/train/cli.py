"""``openvggt train CONFIG [key=value ...] [--resume]`` (run under ``torchrun`` for DDP)."""

from __future__ import annotations

import argparse
import json
import logging

from openvggt.errors import UserError
from openvggt.train.config import TrainConfig
from openvggt.train.trainer import Trainer

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a model",
        description="CONFIG is a preset (small-synthetic, finetune-1b, debug-tiny) or a JSON file; "
        "override any field with key=value, e.g. steps=200 data.image_size=168 optim.lr=1e-4.",
    )
    p.add_argument("config", help="training preset name or JSON file")
    p.add_argument("overrides", nargs="*", help="key=value overrides (values parsed as JSON)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in out_dir")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    try:
        cfg = TrainConfig.load(args.config).override(args.overrides)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0

    try:
        trainer = Trainer(cfg, resume=args.resume, progress=not args.no_progress)
    except ValueError as exc:  # a config the model or data cannot run (checked before any step)
        raise UserError(str(exc)) from None
    path = trainer.fit()
    if trainer.dist.main:
        print(f"trained {trainer.step} steps ({trainer.skipped_steps} skipped); weights: {path}")
    return 0
