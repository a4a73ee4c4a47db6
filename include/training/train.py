"""SageMaker script-mode entry point: `python -m include.training.train [--model fm --factors 64 ...]`.

SageMaker's contract, which the local stack's CreateTrainingJob reproduces: hyperparameters as
`--name value` arguments (and in `/opt/ml/input/config/hyperparameters.json`), channels in
`SM_CHANNEL_TRAIN` / `SM_CHANNEL_TEST` / `SM_CHANNEL_FEATURES`, the model written to
`SM_MODEL_DIR` (SageMaker tars it to `model.tar.gz`), metrics printed as `METRIC name=value` lines
for the job's `MetricDefinitions`, and the reason of a failure written to `/opt/ml/output/failure`
(SageMaker's `FailureReason`).

The registration gate's scoring runs here too, where the data is: on the test channel (the month
the DAG evaluates on), the new model, the champion (optional `champion` channel: its
model.tar.gz) and both baselines of the same window (popularity, personal popularity) are scored
for the same customers; `evaluation.json` in the model directory holds every model's metrics and
each customer's NDCG@10, which the DAG's register step bootstraps without loading any data.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's threads do the work: no nested BLAS pools

import argparse
import json
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

from include.training import data as training_data
from include.training import metrics
from include.training.models import DEFAULT_MODEL, MODELS, trainer

METRIC_REGEX = r"METRIC {name}=([-0-9.eE]+)"
REPORTED = (
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
    "ndcg_at_5",
    "ndcg_at_10",
    "ndcg_at_25",
    "mrr_at_25",
    "coverage",
    "train_seconds",
)
# What a training job declares so that SageMaker (and the local stack) read the metrics from its log.
METRIC_DEFINITIONS = [{"Name": name, "Regex": METRIC_REGEX.format(name=name)} for name in REPORTED]
SERVING_FILES = ("inference.py", "artifact.py")
EVALUATION = "evaluation.json"


def parse(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL)
    parser.add_argument("--half-life-days", "--half_life_days", dest="half_life_days", type=float)
    parser.add_argument("--decay", type=float)
    parser.add_argument("--neighbours", type=int)
    parser.add_argument("--discovery", type=int)
    parser.add_argument("--label-months", "--label_months", dest="label_months", type=int)
    parser.add_argument("--c", type=float)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float)
    parser.add_argument("--regularization", type=float)
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int)
    parser.add_argument("--seed", type=int, default=42)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown hyperparameters {unknown}")
    return {k: v for k, v in vars(args).items() if v is not None}


def run(
    hp: dict,
    train_dir: str,
    test_dir: str | None,
    features_dir: str | None,
    model_dir: str,
    champion_dir: str | None = None,
) -> dict:
    started = time.monotonic()
    train_frame = training_data.read_interactions(train_dir)
    test_frame = training_data.read_interactions(test_dir) if test_dir else None
    dataset = training_data.build(train_frame, test_frame, features_dir)
    print(
        f"training {hp['model']} on {dataset.train.nnz:,} user-item pairs ({len(train_frame):,} purchase lines), "
        f"{len(dataset.users):,} users x {len(dataset.items):,} items; "
        f"holdout: {len(dataset.test):,} known users" + ("" if test_dir else " (last 10% of the window)"),
        flush=True,
    )
    model = trainer(hp["model"])(dataset, hp)
    train_seconds = round(time.monotonic() - started, 2)
    result = metrics.evaluate(model.recommend, dataset.test, len(dataset.items))
    result["train_seconds"] = train_seconds
    model.metrics = result
    model.info = {
        **model.info,
        "train_lines": len(train_frame),
        "train_pairs": int(dataset.train.nnz),
        "train_end": dataset.train_end,
        "holdout_users": len(dataset.test),
    }
    model.save(model_dir)
    if test_dir:
        report = compare(model, dataset, test_frame, champion_dir)
        (Path(model_dir) / EVALUATION).write_text(json.dumps(report))
        for name, figures in report["metrics"].items():
            print(f"evaluation {name}: ndcg_at_10 {figures['ndcg_at_10']:.4f}", flush=True)
    code = Path(model_dir) / "code"
    code.mkdir(exist_ok=True)
    for name in SERVING_FILES:  # the endpoint's handlers travel inside model.tar.gz, SageMaker's layout
        shutil.copy(Path(__file__).with_name(name), code / name)
    for name in REPORTED:
        print(f"METRIC {name}={result[name]}", flush=True)
    return result


def load_champion(channel_dir: str, into: str):
    """The champion's model.tar.gz from its channel, unpacked (tar data filter) and loaded."""
    from include.training.artifact import ScoringModel

    archives = sorted(Path(channel_dir).rglob("model.tar.gz"))
    if len(archives) != 1:
        raise training_data.DataError(f"the champion channel must hold one model.tar.gz, found {len(archives)}")
    with tarfile.open(archives[0], mode="r:gz") as archive:
        archive.extractall(into, filter="data")
    return ScoringModel.load(into)


def compare(model, dataset, test_frame, champion_dir: str | None) -> dict:
    """Every model's metrics and per-customer NDCG@10 on the test month's customers the new model knows."""
    from include.training import evaluation

    truth = evaluation.truth_of(test_frame, users=model.users)
    contenders = {
        "challenger": model,
        "popularity": trainer("popularity")(dataset, {"model": "popularity"}),
        "personal_popularity": trainer("personal_popularity")(dataset, {"model": "personal_popularity"}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if champion_dir:
            contenders["champion"] = load_champion(champion_dir, tmp)
        report: dict = {"customers": list(truth), "metrics": {}, "per_user_ndcg_at_10": {}, "kinds": {}}
        for name, contender in contenders.items():
            per_user: list[float] = []
            report["metrics"][name] = evaluation.score(contender, truth, per_user)
            report["per_user_ndcg_at_10"][name] = [round(v, 6) for v in per_user]
            report["kinds"][name] = contender.kind
    return report


def failure_file() -> Path:
    output = os.environ.get("SM_OUTPUT_DATA_DIR")
    return Path(output).parent / "failure" if output else Path("/opt/ml/output/failure")


def main(argv: list[str] | None = None) -> int:
    hp = parse(sys.argv[1:] if argv is None else argv)
    try:
        train_dir = training_data.channel("train")
        if train_dir is None:
            raise training_data.DataError("the train channel is missing (SM_CHANNEL_TRAIN)")
        model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
        result = run(
            hp,
            train_dir,
            training_data.channel("test"),
            training_data.channel("features"),
            model_dir,
            training_data.channel("champion"),
        )
        output = os.environ.get("SM_OUTPUT_DATA_DIR")
        if output:
            Path(output).mkdir(parents=True, exist_ok=True)
            (Path(output) / "metrics.json").write_text(json.dumps(result, indent=2))
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        traceback.print_exc()
        try:
            failure_file().parent.mkdir(parents=True, exist_ok=True)
            failure_file().write_text(reason[:1024])
        except OSError:
            pass
        print(f"ERROR: {reason}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
