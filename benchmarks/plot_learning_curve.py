"""Learning curve of an `openvggt train` run: held-out AUC@30 and depth AbsRel (val.jsonl) and the training
objective (log.jsonl) against frames seen.

    python benchmarks/plot_learning_curve.py runs/vggt-small-long --out runs/vggt-small-long/learning_curve.png
    python benchmarks/plot_learning_curve.py runs/vggt-small-long runs/vggt-small-long-heads --out curve.png

Several runs are stages of one recipe (each initialised from the one before): they are drawn end to end, a
stage's frames seen and training minutes counted on from the previous stage's last logged step.
Also prints the validation rows as a markdown table (for the model card).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, nargs="+", help="the run's out_dir (several: consecutive stages)")
    p.add_argument("--out", type=Path, default=None, help="PNG (default RUN/learning_curve.png of the last run)")
    args = p.parse_args(argv)
    val, log, frames0, seconds0 = [], [], 0, 0.0
    for stage, run in enumerate(args.run, 1):
        v, lg = rows(run / "val.jsonl"), rows(run / "log.jsonl")
        if not v and not lg:
            print(f"no val.jsonl or log.jsonl in {run}", file=sys.stderr)
            return 1
        for r in v + lg:
            r["stage"] = stage
            r["frames_seen"] = r.get("frames_seen", r["step"]) + frames0
            r["train_seconds"] = r.get("train_seconds", 0.0) + seconds0
        val += v
        log += lg
        if lg:
            frames0, seconds0 = lg[-1]["frames_seen"], lg[-1]["train_seconds"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    vx = [r["frames_seen"] for r in val]
    axes[0].plot(vx, [r.get("val/auc30", float("nan")) for r in val], marker="o")
    axes[0].set(xlabel="frames seen", ylabel="held-out AUC@30", title="cameras (VAL_SEED, 8 frames)")
    axes[1].plot(vx, [r.get("val/abs_rel", float("nan")) for r in val], marker="o", color="C1")
    axes[1].set(xlabel="frames seen", ylabel="held-out depth AbsRel", title="depth (median-scaled)")
    lx = [r["frames_seen"] for r in log]
    axes[2].plot(lx, [r["objective"] for r in log], lw=0.8, color="C2")
    axes[2].set(xlabel="frames seen", ylabel="training objective", yscale="log", title="loss")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = args.out or args.run[-1] / "learning_curve.png"
    fig.savefig(out, dpi=110)
    print("| stage | step | frames seen | training min | AUC@30 | RRA@15 | RTA@15 | AbsRel |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in val:

        def f(k: str, fmt: str = "{:.1f}", r: dict = r) -> str:
            return fmt.format(r[k]) if k in r else "–"

        print(
            f"| {r['stage']} | {r['step']} | {r['frames_seen']} | {r['train_seconds'] / 60:.0f} | {f('val/auc30')} | "
            f"{f('val/rra15')} | {f('val/rta15')} | {f('val/abs_rel', '{:.3f}')} |"
        )
    print(f"\nplot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
