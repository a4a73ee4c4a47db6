"""The model-comparison chart logged with every training run: mean NDCG@10 per model on the same
customers, and the challenger's bootstrap intervals of relative gain over each other model.

Rendered with matplotlib's Agg backend (no display); imported only by the register step.
"""

from __future__ import annotations

from pathlib import Path

from include.training.gate import GateResult


def comparison_chart(result: GateResult, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.means)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    colours = ["tab:blue" if n == "challenger" else "tab:gray" for n in names]
    bars = left.barh(names, [result.means[n] for n in names], color=colours)
    left.bar_label(bars, fmt="%.4f", padding=2)
    left.set_xlabel("mean NDCG@10 (same customers)")
    left.invert_yaxis()
    compared = list(result.intervals)
    for row, key in enumerate(compared):
        ci = result.intervals[key]
        right.errorbar(ci.gain, row, xerr=[[ci.gain - ci.lower], [ci.upper - ci.gain]], fmt="o", capsize=4)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_yticks(range(len(compared)), [k.replace("challenger_vs_", "vs ") for k in compared])
    right.invert_yaxis()
    right.set_xlabel("challenger's relative NDCG@10 gain, bootstrap CI")
    fig.suptitle(title or result.reason, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
