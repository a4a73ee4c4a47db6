"""The per-DAG task modules' pure steps, without a DAG run or the local stack."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from mlops.tasks import ab_promotion, model_drop, model_training, monthly_preprocessing


def test_the_training_job_is_configured_from_the_plan_channels_and_params():
    plan = {
        "job_name": "mlops-recommender-dev-als-201110-abcd",
        "role_arn": "role",
        "bucket": "bkt",
        "month": "2011-10",
        "training_image": "img",
    }
    channels = {"train": "s3://t/", "test": "s3://e/", "features": "s3://f/", "dataset_id": "d1"}
    params = {"model": "als", "hyperparameters": {"factors": 64}, "training_image": "img", "instance_type": "ml.x"}
    config = model_training.training_job_config(plan, channels, "s3://bkt/code/sourcedir.tar.gz", params)
    assert config["TrainingJobName"] == "mlops-recommender-dev-als-201110-abcd"
    assert config["HyperParameters"]["model"] == '"als"' and config["HyperParameters"]["factors"] == "64"
    assert config["HyperParameters"]["sagemaker_submit_directory"] == '"s3://bkt/code/sourcedir.tar.gz"'
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in config["InputDataConfig"]] == [
        "s3://t/",
        "s3://e/",
        "s3://f/",
    ]
    assert {"Key": "mlops:dataset", "Value": "d1"} in config["Tags"]
    # with a champion, its model.tar.gz is the job's optional `champion` channel
    artifact = "s3://bkt/training/jobs/old/output/model.tar.gz"
    config = model_training.training_job_config(plan, channels, "s3://bkt/code/sourcedir.tar.gz", params, artifact)
    champion = config["InputDataConfig"][-1]
    assert champion["ChannelName"] == "champion" and champion["DataSource"]["S3DataSource"]["S3Uri"] == artifact


def test_register_reads_the_jobs_evaluation_and_refuses_an_incomplete_one(tmp_path):
    report = {
        "customers": ["1", "2"],
        "per_user_ndcg_at_10": {"challenger": [0.5, 0.4], "popularity": [0.1, 0.0], "personal_popularity": [0.3, 0.2]},
    }
    (tmp_path / "evaluation.json").write_text(json.dumps(report))
    assert model_training.read_evaluation(str(tmp_path), has_champion=False) == report
    with pytest.raises(ValueError, match="lacks champion"):
        model_training.read_evaluation(str(tmp_path), has_champion=True)
    report["per_user_ndcg_at_10"]["popularity"] = [0.1]
    (tmp_path / "evaluation.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="same customers"):
        model_training.read_evaluation(str(tmp_path), has_champion=False)
    (tmp_path / "evaluation.json").unlink()
    with pytest.raises(ValueError, match="missing"):
        model_training.read_evaluation(str(tmp_path), has_champion=False)


def test_only_model_tarballs_under_a_name_and_label_are_drops():
    assert model_drop.DROP.match("models/recommender/hand-1/model.tar.gz")["label"] == "hand-1"
    assert model_drop.DROP.match("models/recommender/model.tar.gz") is None
    assert model_drop.DROP.match("models/recommender/v1/other.tar.gz") is None


def test_the_candidate_is_the_newest_event_of_the_asset():
    events = {"candidate": [SimpleNamespace(extra={"version": "1"}), SimpleNamespace(extra={"version": "2"})]}
    assert ab_promotion.candidate_of(events, "candidate") == {"version": "2"}
    assert ab_promotion.candidate_of(None, "candidate") is None
    assert ab_promotion.candidate_of({"candidate": []}, "candidate") is None


def test_the_processed_month_event_carries_the_manifest_and_counts():
    report = {"rows_out": 9, "rows_quarantined": 1, "users": 3, "items": 4, "model_id": "m", "rows_in": 10}
    quality = {"month": "2011-10", "manifest_uri": "s3://o/m.json", "files": {"a": "s3://o/a"}, "report": report}
    assert monthly_preprocessing.processed_event(quality) == {
        "month": "2011-10",
        "manifest_uri": "s3://o/m.json",
        "files": {"a": "s3://o/a"},
        "rows_out": 9,
        "rows_quarantined": 1,
        "users": 3,
        "items": 4,
        "model_id": "m",
    }
    assert json.dumps(monthly_preprocessing.processed_event(quality))  # an Asset extra must be JSON


def test_the_default_framework_image_follows_the_connections_region(monkeypatch):
    """No account or region written down: the SDK's registry account for the connection's region."""
    from mlops.tasks.common import framework_image

    monkeypatch.setenv("AIRFLOW_CONN_AWS_IMAGES_TEST", '{"conn_type": "aws", "extra": {"region_name": "eu-west-2"}}')
    image = framework_image("aws_images_test")
    assert image == "764974769150.dkr.ecr.eu-west-2.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


def test_training_stages_the_months_description_embeddings_only_when_they_exist():
    from mlops.tasks import catalogue_embeddings

    where = catalogue_embeddings.locations("out", "amazon.titan-embed-text-v2:0", 256, "2011-10")
    base = "s3://out/embeddings/model=amazon.titan-embed-text-v2:0/dimensions=256"
    assert where == {
        "cache_uri": f"{base}/cache.parquet",
        "output_uri": f"{base}/month=2011-10/item_embeddings.parquet",
        "similar_uri": f"{base}/month=2011-10/cold_start_similar_items.parquet",
    }
    asked = []

    def s3(present: bool):
        return SimpleNamespace(check_for_key=lambda key, bucket: asked.append((bucket, key)) or present)

    items = "s3://out/processed/month=2011-10/run=r/item_features.parquet"
    assert model_training.description_embeddings(s3(True), items, "2011-10") == where["output_uri"]
    assert model_training.description_embeddings(s3(False), items, "2011-10") is None
    assert asked[0] == ("out", where["output_uri"].removeprefix("s3://out/"))
