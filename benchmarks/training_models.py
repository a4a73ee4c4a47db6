"""Every recommender on the same real split: train on 2010-12..2011-09, evaluate on 2011-10.

    PYTHONPATH=. .venv/bin/python -m benchmarks.training_models

The months go through the real preprocessing job first (model fitted on the first three), then
each model trains through the same code path as the SageMaker entry point and is scored with the
Personalize-style metrics on the October customers it knows. Prints one table and the winner on
NDCG@10 with its ratio to the popularity baseline.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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

TRAIN = ["2010-12", *(f"2011-{m:02d}" for m in range(1, 10))]
TEST = "2011-10"
CANDIDATES = [
    ("popularity", {}),
    ("als", {"factors": 64, "epochs": 15}),
    ("bpr", {"factors": 64, "epochs": 100}),
    ("fm", {"factors": 64, "epochs": 60}),
]
COLUMNS = tuple(name for name in REPORTED if name != "train_seconds")


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-training-"))
    files = {p.name[:7]: p for p in online_retail_dir().glob("*.csv.gz")}
    model = preprocessing.fit_files([(str(files[m]), m) for m in TRAIN[:3]], TRAIN[:3])
    for month in [*TRAIN, TEST]:
        preprocessing.process_file(str(files[month]), month, model, str(root / month), month)
    train_frame = pd.concat([pd.read_parquet(root / m / "interactions.parquet") for m in TRAIN], ignore_index=True)
    test_frame = pd.read_parquet(root / TEST / "interactions.parquet")
    dataset = data.build(train_frame, test_frame, str(root / TRAIN[-1]))
    print(
        f"train {TRAIN[0]}..{TRAIN[-1]}: {len(train_frame):,} lines, {dataset.train.nnz:,} user-item pairs, "
        f"{len(dataset.users):,} users x {len(dataset.items):,} items; test {TEST}: {len(dataset.test):,} known users"
    )
    rows = []
    for name, hp in CANDIDATES:
        started = time.monotonic()
        fitted = trainer(name)(dataset, {"model": name, **hp})
        seconds = time.monotonic() - started
        rows.append((name, hp, metrics.evaluate(fitted.recommend, dataset.test, len(dataset.items)), seconds))
    print("| model | " + " | ".join(COLUMNS) + " | train s |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name, hp, result, seconds in rows:
        label = name + (f" ({', '.join(f'{k}={v}' for k, v in hp.items())})" if hp else "")
        print(f"| {label} | " + " | ".join(f"{result[c]:.4f}" for c in COLUMNS) + f" | {seconds:.1f} |")
    best = max(rows, key=lambda r: r[2]["ndcg_at_10"])
    baseline = next(r for r in rows if r[0] == "popularity")[2]["ndcg_at_10"]
    print(
        f"winner on NDCG@10: {best[0]} ({best[2]['ndcg_at_10']:.4f}, "
        f"{best[2]['ndcg_at_10'] / baseline:.2f}x popularity)"
    )
    return 0 if best[0] != "popularity" else 1


if __name__ == "__main__":
    sys.exit(main())
