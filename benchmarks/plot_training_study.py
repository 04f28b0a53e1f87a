"""Plot the rows of benchmarks/timed_run.py (one line per run): held-out AUC@30 and depth AbsRel against frames seen.

    python benchmarks/plot_training_study.py runs/study/*.jsonl --out docs/training_study.png [--train]

``--train`` adds the training-scene metrics (the overfit check) as dashed lines. Also prints a
markdown table of every run's last row.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def load(paths: list[Path]) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                runs[row.get("run", path.stem)].append(row)
    return {name: sorted(rows, key=lambda r: r["frames_seen"]) for name, rows in runs.items()}


def table(runs: dict[str, list[dict]]) -> str:
    lines = [
        "| run | steps | frames seen | train min | held-out AUC@30 | RRA@15 | RTA@15 | AbsRel | train AUC@30 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in runs.items():
        r = rows[-1]

        def f(key: str, fmt: str = "{:.1f}", r: dict = r) -> str:
            return fmt.format(r[key]) if key in r else "–"

        lines.append(
            f"| {name} | {r['step']} | {r['frames_seen']} | {r['train_s'] / 60:.1f} | {f('heldout_auc30')} | "
            f"{f('heldout_rra15')} | {f('heldout_rta15')} | {f('heldout_abs_rel', '{:.3f}')} | {f('train_auc30')} |"
        )
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], out: Path, train: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.cm.tab20.colors
    for i, (name, rows) in enumerate(runs.items()):
        x = [r["frames_seen"] for r in rows]
        for ax, key in zip(axes, ("auc30", "abs_rel")):
            if any(f"heldout_{key}" in r for r in rows):
                y = [r.get(f"heldout_{key}", float("nan")) for r in rows]
                (line,) = ax.plot(x, y, marker=".", color=colours[(2 * i) % 20 + (i >= 10)], label=name)
                if train and any(f"train_{key}" in r for r in rows):
                    y = [r.get(f"train_{key}", float("nan")) for r in rows]
                    ax.plot(x, y, ls="--", color=line.get_color(), label=f"{name} (training scenes)")
    axes[0].set(xlabel="frames seen", ylabel="camera AUC@30", title="held-out synthetic (VAL_SEED)")
    axes[1].set(xlabel="frames seen", ylabel="depth AbsRel (median-scaled)", title="held-out synthetic (VAL_SEED)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("jsonl", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("runs/study/training_study.png"))
    p.add_argument("--train", action="store_true", help="also plot the training-scene metrics")
    args = p.parse_args(argv)
    runs = load(args.jsonl)
    if not runs:
        print("no rows", file=sys.stderr)
        return 1
    plot(runs, args.out, args.train)
    print(table(runs))
    print(f"\nplot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
