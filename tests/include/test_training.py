"""Training on real processed months: metrics, models, the script-mode entry point, inference."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from devstack.datasets import month_file
from include.preprocessing import job as preprocessing
from include.training import inference, metrics, train
from include.training.artifact import ScoringModel

TRAIN_MONTHS = ("2011-08", "2011-09")


@pytest.fixture(scope="module")
def channels(tmp_path_factory) -> dict[str, str]:
    """SageMaker-shaped channels from the real preprocessing job's outputs."""
    root = tmp_path_factory.mktemp("channels")
    model = preprocessing.fit_files([(str(month_file(m)), m) for m in TRAIN_MONTHS], list(TRAIN_MONTHS))
    for month in (*TRAIN_MONTHS, "2011-10"):
        preprocessing.process_file(str(month_file(month)), month, model, str(root / "processed" / month), month)
    for month in TRAIN_MONTHS:
        (root / "train" / f"month={month}").mkdir(parents=True)
        os.link(root / "processed" / month / "interactions.parquet", root / "train" / f"month={month}" / "i.parquet")
    (root / "test").mkdir()
    os.link(root / "processed" / "2011-10" / "interactions.parquet", root / "test" / "interactions.parquet")
    (root / "features").mkdir()
    for name in ("user_features.parquet", "item_features.parquet"):
        os.link(root / "processed" / "2011-09" / name, root / "features" / name)
    return {name: str(root / name) for name in ("train", "test", "features")}


def run_entry_point(channels, tmp_path, monkeypatch, *args: str) -> tuple[int, Path]:
    for name, path in channels.items():
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", path)
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output" / "data"))
    return train.main(list(args)), tmp_path


def test_metrics_follow_personalize_definitions():
    # user 0 bought items {1, 3}; the model ranks 3 first, 1 fifth
    ranking = np.array([[3, 0, 2, 4, 1, *range(5, 30)]])
    result = metrics.evaluate(lambda users, k: ranking[:, :k], {0: {1, 3}}, n_items=40)
    assert result["precision_at_5"] == pytest.approx(2 / 5)
    ideal = 1 + 1 / np.log2(3)
    assert result["ndcg_at_5"] == pytest.approx((1 + 1 / np.log2(6)) / ideal, abs=1e-6)
    assert result["mrr_at_25"] == 1.0
    assert result["coverage"] == pytest.approx(25 / 40)


@pytest.mark.parametrize(
    "model", ["popularity", "als", "bpr", "fm", "personal_popularity", "recency_popularity", "repeat"]
)
def test_the_entry_point_trains_each_model_and_prints_its_metrics(channels, tmp_path, monkeypatch, capsys, model):
    code, out = run_entry_point(channels, tmp_path, monkeypatch, "--model", model, "--epochs", "3", "--factors", "16")
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("precision_at_10", "ndcg_at_10", "mrr_at_25", "coverage"):
        assert f"METRIC {name}=" in printed
    saved = json.loads((out / "output" / "data" / "metrics.json").read_text())
    assert saved["users_evaluated"] > 500  # October customers also seen in August-September
    assert {p.name for p in (out / "model").iterdir()} == {"model.npz", "model.json", "code", train.EVALUATION}
    loaded = ScoringModel.load(out / "model")
    assert loaded.kind == model and loaded.metrics["ndcg_at_10"] == saved["ndcg_at_10"]
    report = json.loads((out / "model" / train.EVALUATION).read_text())
    assert set(report["per_user_ndcg_at_10"]) == {"challenger", "popularity", "personal_popularity"}
    assert {len(v) for v in report["per_user_ndcg_at_10"].values()} == {len(report["customers"])}
    assert report["metrics"]["challenger"]["ndcg_at_10"] == pytest.approx(
        np.mean(report["per_user_ndcg_at_10"]["challenger"]), abs=1e-5
    )


def test_the_job_scores_the_champion_channel_on_the_same_customers(channels, tmp_path, monkeypatch):
    code, first = run_entry_point(channels, tmp_path / "first", monkeypatch, "--model", "personal_popularity")
    assert code == 0
    champion = tmp_path / "champion"
    champion.mkdir()
    with tarfile.open(champion / "model.tar.gz", "w:gz") as archive:
        for path in (first / "model").iterdir():
            archive.add(path, arcname=path.name)
    code, out = run_entry_point({**channels, "champion": str(champion)}, tmp_path / "second", monkeypatch)
    assert code == 0
    report = json.loads((out / "model" / train.EVALUATION).read_text())
    per_user = report["per_user_ndcg_at_10"]
    assert report["kinds"] == {
        "challenger": "repeat",
        "popularity": "popularity",
        "personal_popularity": "personal_popularity",
        "champion": "personal_popularity",
    }
    assert per_user["champion"] == per_user["personal_popularity"]  # the same model, the same customers
    # the repeat-aware default beats "buy it again" on October, trained on August-September
    assert report["metrics"]["challenger"]["ndcg_at_10"] > report["metrics"]["personal_popularity"]["ndcg_at_10"]


def test_a_profile_model_serves_what_it_ranks_in_batch_after_a_round_trip(channels, tmp_path, monkeypatch):
    code, out = run_entry_point(channels, tmp_path, monkeypatch, "--model", "repeat")
    assert code == 0
    model = ScoringModel.load(out / "model")
    assert model.profile is not None and model.item_factors.shape[1] == 0
    batch = model.recommend(np.arange(len(model.users)), 10)
    for index in (0, len(model.users) // 2, len(model.users) - 1):
        served = inference.predict_fn({"user_id": model.users[index], "num_results": 10, "context": {}}, model)
        assert served["source"] == "model" and served["model"] == "repeat"
        assert served["items"] == [model.items[i] for i in batch[index]]


def test_the_repeat_model_learns_from_a_one_month_window(channels, tmp_path, monkeypatch):
    one_month = {**channels, "train": str(Path(channels["train"]) / "month=2011-09")}
    code, out = run_entry_point(one_month, tmp_path, monkeypatch, "--model", "repeat")
    assert code == 0
    model = ScoringModel.load(out / "model")
    assert model.kind == "repeat" and model.info["training_examples"] > 1000


def test_discovery_metrics_score_only_items_new_to_the_customer():
    import scipy.sparse as sp

    bought = sp.csr_matrix(np.array([[1, 1, 0, 0, 0]], dtype=np.float32))
    truth = {0: {0, 3}}  # item 0 is a repeat, item 3 is new
    ranking = np.array([[0, 1, 3, 2, 4]])
    result = metrics.evaluate_discovery(lambda users, k: ranking[:, :k], truth, bought, n_items=5)
    assert result["discovery_users_evaluated"] == 1
    assert result["discovery_precision_at_5"] == pytest.approx(1 / 5)  # items 0 and 1 are removed: 3 is first
    assert result["discovery_mrr_at_25"] == 1.0


def test_a_factor_model_beats_popularity_on_real_months(channels, tmp_path, monkeypatch):
    scores = {}
    for model in ("popularity", "als"):
        code, out = run_entry_point(channels, tmp_path / model, monkeypatch, "--model", model)
        assert code == 0
        scores[model] = json.loads((out / "output" / "data" / "metrics.json").read_text())["ndcg_at_10"]
    assert scores["als"] > 1.3 * scores["popularity"] > 0


def test_a_failing_job_writes_its_reason_where_sagemaker_reads_it(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(empty))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output" / "data"))
    assert train.main(["--model", "als"]) == 1
    assert (tmp_path / "output" / "failure").read_text() == f"DataError: no .parquet files under {empty}"
    assert "ERROR: DataError" in capsys.readouterr().err


def test_inference_serves_known_unknown_and_context_users(channels, tmp_path, monkeypatch):
    code, out = run_entry_point(channels, tmp_path, monkeypatch, "--model", "fm", "--epochs", "3", "--factors", "16")
    assert code == 0
    model = inference.model_fn(str(out / "model"))
    known = model.users[0]

    def ask(body: dict) -> dict:
        return json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(json.dumps(body)), model))[0])

    assert ask({"user_id": known, "num_results": 7})["source"] == "model"
    assert len(ask({"user_id": known, "num_results": 7})["items"]) == 7
    stranger = ask({"user_id": "99999", "num_results": 5})
    assert stranger["source"] == "popularity" and len(stranger["items"]) == 5
    assert ask({"user_id": "99999", "context": {"country": "France"}})["source"] == "context"
    for bad in ('{"num_results": 5}', '{"user_id": "1", "num_results": 0}', "not json"):
        with pytest.raises(inference.BadRequest):
            inference.input_fn(bad)


def test_the_artifact_never_unpickles(tmp_path):
    np.savez(tmp_path / "model.npz", item_factors=np.array([object()], dtype=object))
    (tmp_path / "model.json").write_text(json.dumps({"format_version": 1, "kind": "x", "users": [], "items": []}))
    with pytest.raises(ValueError, match="pickle"):
        ScoringModel.load(tmp_path)


def test_the_source_directory_pins_its_own_requirements_as_the_lock_does():
    """The training package ships its own requirements (no runtime code reads the project's lock,
    which MWAA or Astro need not have); they must stay the lock's versions."""
    import re
    from pathlib import Path

    from include.training import package

    root = Path(package.__file__).resolve().parents[2]
    lock = (root / "requirements.txt").read_text()
    shipped = package.source_requirements().decode().split()
    assert [pin.split("==")[0] for pin in shipped] == list(package.JOB_REQUIREMENTS)
    shipped += package.source_requirements(package.PROCESSING_REQUIREMENTS).decode().split()
    for pin in shipped:
        name = pin.split("==")[0]
        assert re.search(rf"^{re.escape(pin)}\s", lock, re.MULTILINE), f"{pin} differs from the lock's {name}"
    runtime_code = [p for d in ("include", "plugins", "dags") for p in (root / d).rglob("*.py")]
    readers = [str(p.relative_to(root)) for p in runtime_code if '"requirements.txt").read' in p.read_text()]
    # include/images.py reads the lock only to compute image tags (`make image-tags`, `make images`),
    # never in Airflow: the DAGs name images from the committed include/image_tags.json.
    assert readers in ([], ["include/images.py"])
