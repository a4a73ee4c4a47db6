"""The champion's assessment as a SageMaker Processing job: drift and decay where the data is.

The model_training DAG used to load the champion's whole training window into pandas on an Airflow
worker. This entry point does that work inside a Processing container instead; the worker only
plans the job and reads the small JSON it leaves behind, then applies the retraining policy
(`include/training/decision.py`).

Inputs (Processing inputs, downloaded by SageMaker before the container starts):
  --reference DIR  the champion's training window: every `*.parquet` under it (one per month)
  --current DIR    the new month's interactions (`*.parquet`)
  --model DIR      optional: the champion's `model.tar.gz`, for its ranking quality on the new month
Outputs (uploaded by SageMaker when the job ends), under --output DIR:
  assessment.json  the drift report, the champion's metrics on the new month, row counts
  drift.csv        one row per feature: feature, measure, value, threshold, drifted
  drift.png        the same as a bar chart, each bar against its threshold
--exit-message FILE (SageMaker's /opt/ml/output/message) receives the reason when the job fails,
which DescribeProcessingJob returns as ExitMessage.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import tempfile
from pathlib import Path

REPORT = "assessment.json"
TABLE = "drift.csv"
CHART = "drift.png"
TABLE_COLUMNS = ("feature", "measure", "value", "threshold", "drifted")


class InputError(Exception):
    """An input the job cannot work with; the message names which and where."""


def read_frames(directory: Path, what: str):
    """Every parquet file under `directory`, concatenated (the months of a window)."""
    import pandas as pd

    files = sorted(directory.rglob("*.parquet")) if directory.is_dir() else []
    if not files:
        raise InputError(f"no .parquet files under {directory} ({what})")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def champion_metrics(model_dir: Path, current) -> dict[str, float]:
    """The champion's ranking metrics on the new month's customers it knows (its own scoring)."""
    from include.training import evaluation
    from include.training.artifact import ScoringModel

    archives = sorted(model_dir.rglob("model.tar.gz"))
    if not archives:
        raise InputError(f"no model.tar.gz under {model_dir} (the champion's artifact)")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archives[0], mode="r:gz") as archive:
            archive.extractall(tmp, filter="data")
        model = ScoringModel.load(tmp)
        return evaluation.score(model, evaluation.truth_of(current, users=model.users))


def drift_rows(report: dict) -> list[dict]:
    return [
        {
            "feature": f["feature"],
            "measure": f["method"],
            "value": f["score"],
            "threshold": f["threshold"],
            "drifted": bool(f["drifted"]),
        }
        for f in report["features"]
    ]


def write_table(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_chart(rows: list[dict], report: dict, path: Path) -> None:
    """One bar per feature (value / its threshold, so every measure shares the line at 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['feature']}\n({r['measure']})" for r in rows]
    ratios = [r["value"] / r["threshold"] if r["threshold"] else 0.0 for r in rows]
    colours = ["#c0392b" if r["drifted"] else "#2e86c1" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows)), 4.0), dpi=100)
    ax.bar(range(len(rows)), ratios, color=colours)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="threshold")
    for i, r in enumerate(rows):
        ax.annotate(f"{r['value']:.3f}", (i, ratios[i]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("drift / threshold")
    ax.set_title(
        f"Drift of the new month from the champion's training data: "
        f"{sum(r['drifted'] for r in rows)}/{len(rows)} features (dataset drift at share "
        f"{report['drift_share']:.2f})",
        fontsize=9,
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def assess(
    reference_dir: Path,
    current_dir: Path,
    output_dir: Path,
    model_dir: Path | None = None,
    drift_method: str = "wasserstein",
    drift_threshold: float = 0.1,
    drift_share: float = 0.5,
) -> dict:
    """Compute and write the assessment; returns what assessment.json holds."""
    from include.training import drift

    reference = read_frames(reference_dir, "the champion's training window")
    current = read_frames(current_dir, "the new month")
    compared = drift.compare(
        reference,
        current,
        numeric_method=drift_method,
        thresholds={"wasserstein": drift_threshold, "psi": drift_threshold, "jensenshannon": drift_threshold},
        drift_share=drift_share,
    )
    report = compared.as_dict()
    metrics = champion_metrics(model_dir, current) if model_dir is not None else None
    result = {
        "drift": report,
        "drift_summary": compared.summary(),
        "champion_metrics_now": metrics,
        "reference_rows": len(reference),
        "current_rows": len(current),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = drift_rows(report)
    write_table(rows, output_dir / TABLE)
    write_chart(rows, report, output_dir / CHART)
    (output_dir / REPORT).write_text(json.dumps(result, indent=2, sort_keys=True))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--current", type=Path, required=True)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--drift-method", default="wasserstein")
    parser.add_argument("--drift-threshold", type=float, default=0.1)
    parser.add_argument("--drift-share", type=float, default=0.5)
    parser.add_argument("--exit-message", type=Path)
    args = parser.parse_args(argv)
    try:
        result = assess(
            args.reference,
            args.current,
            args.output,
            args.model,
            args.drift_method,
            args.drift_threshold,
            args.drift_share,
        )
    except (InputError, ValueError) as err:
        message = f"{type(err).__name__}: {err}"
        print(message, file=sys.stderr)
        if args.exit_message is not None:
            args.exit_message.parent.mkdir(parents=True, exist_ok=True)
            args.exit_message.write_text(message[:1024])
        return 1
    print(result["drift_summary"])
    if result["champion_metrics_now"] is not None:
        print(f"champion on the new month: {json.dumps(result['champion_metrics_now'], sort_keys=True)}")
    print(f"reference rows {result['reference_rows']}, current rows {result['current_rows']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
