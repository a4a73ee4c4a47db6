"""Every recommender on the same real split: train on 2010-12..2011-09, evaluate on 2011-10.

    PYTHONPATH=. .venv/bin/python -m benchmarks.training_models [--test 2011-09] [--only repeat,...]

`--test` moves the split (train on every month before it): 2011-09 is the validation month the
repeat model's settings were chosen on; 2011-10 was never looked at while choosing them.

The months go through the real preprocessing job first (model fitted on the first three), then
each model trains through the same code path as the SageMaker entry point and is scored with the
Personalize-style metrics on the October customers it knows, all items and discovery (items new
to the customer). Prints one table and the winner on NDCG@10 with its ratio to the popularity and
the personal-popularity baselines.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from devstack.datasets import online_retail_dir
from include.preprocessing import job as preprocessing
from include.training import data, metrics
from include.training.models import trainer
from include.training.train import REPORTED

MONTHS = ["2010-12", *(f"2011-{m:02d}" for m in range(1, 11))]
TEST = "2011-10"
CANDIDATES = [
    ("popularity", {}),
    ("personal_popularity", {}),
    ("recency_popularity", {"half_life_days": 180}),
    ("repeat", {}),
    ("als", {"factors": 64, "epochs": 15}),
    ("bpr", {"factors": 64, "epochs": 100}),
    ("fm", {"factors": 64, "epochs": 60}),
]
COLUMNS = tuple(name for name in REPORTED if name != "train_seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="training_models")
    parser.add_argument("--test", default=TEST, choices=MONTHS[4:])
    parser.add_argument("--only", default="", help="comma-separated model names (baselines always run)")
    args = parser.parse_args(argv)
    test_month = args.test
    train_months = MONTHS[: MONTHS.index(test_month)]
    wanted = {"popularity", "personal_popularity", *filter(None, args.only.split(","))}
    candidates = [c for c in CANDIDATES if not args.only or c[0] in wanted]
    root = Path(tempfile.mkdtemp(prefix="bench-training-"))
    files = {p.name[:7]: p for p in online_retail_dir().glob("*.csv.gz")}
    model = preprocessing.fit_files([(str(files[m]), m) for m in MONTHS[:3]], MONTHS[:3])
    for month in [*train_months, test_month]:
        preprocessing.process_file(str(files[month]), month, model, str(root / month), month)
    train_frame = pd.concat(
        [pd.read_parquet(root / m / "interactions.parquet") for m in train_months], ignore_index=True
    )
    test_frame = pd.read_parquet(root / test_month / "interactions.parquet")
    dataset = data.build(train_frame, test_frame, str(root / train_months[-1]))
    print(
        f"train {train_months[0]}..{train_months[-1]}: {len(train_frame):,} lines, {dataset.train.nnz:,} user-item "
        f"pairs, {len(dataset.users):,} users x {len(dataset.items):,} items; "
        f"test {test_month}: {len(dataset.test):,} known users"
    )
    rows = []
    for name, hp in candidates:
        started = time.monotonic()
        fitted = trainer(name)(dataset, {"model": name, **hp})
        seconds = time.monotonic() - started
        result = metrics.evaluate(fitted.recommend, dataset.test, len(dataset.items))
        result |= metrics.evaluate_discovery(fitted.recommend, dataset.test, dataset.train, len(dataset.items))
        rows.append((name, hp, result, seconds))
        print(f"{name}: ndcg_at_10 {result['ndcg_at_10']:.4f} ({seconds:.1f} s)", flush=True)
    print("| model | " + " | ".join(COLUMNS) + " | discovery ndcg_at_10 | discovery precision_at_10 | train s |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for name, hp, result, seconds in rows:
        label = name + (f" ({', '.join(f'{k}={v}' for k, v in hp.items())})" if hp else "")
        print(
            f"| {label} | "
            + " | ".join(f"{result[c]:.4f}" for c in COLUMNS)
            + f" | {result['discovery_ndcg_at_10']:.4f} | {result['discovery_precision_at_10']:.4f} | {seconds:.1f} |"
        )
    best = max(rows, key=lambda r: r[2]["ndcg_at_10"])
    baseline = next(r for r in rows if r[0] == "popularity")[2]["ndcg_at_10"]
    personal = next(r for r in rows if r[0] == "personal_popularity")[2]["ndcg_at_10"]
    print(
        f"winner on NDCG@10: {best[0]} ({best[2]['ndcg_at_10']:.4f}, {best[2]['ndcg_at_10'] / baseline:.2f}x "
        f"popularity, {best[2]['ndcg_at_10'] / personal:.3f}x personal popularity)"
    )
    return 0 if best[0] not in ("popularity", "personal_popularity") else 1


if __name__ == "__main__":
    sys.exit(main())
