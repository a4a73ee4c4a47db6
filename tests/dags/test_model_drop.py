"""model_drop: a version dropped by hand is checked, registered once and announced; a bad one is
rejected with its reason and never looked at again."""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import pytest

from devstack.datasets import month_file
from include.preprocessing import job as preprocessing
from include.training import train
from tests.conftest import asset_event_extras
from tests.dags.conftest import load_dag

pytestmark = pytest.mark.slow


@pytest.fixture
def dag():
    found = load_dag("model_drop")
    found.get_task("register_drop").retries = 0
    return found


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> bytes:
    """A real popularity model of 2011-09 in the project's artifact format."""
    root = tmp_path_factory.mktemp("drop")
    fitted = preprocessing.fit_files([(str(month_file("2011-09")), "2011-09")], ["2011-09"])
    preprocessing.process_file(str(month_file("2011-09")), "2011-09", fitted, str(root / "out"), "2011-09")
    (root / "data").mkdir()
    (root / "out" / "interactions.parquet").rename(root / "data" / "interactions.parquet")
    train.run({"model": "popularity", "seed": 1}, str(root / "data"), None, None, str(root / "model"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(root / "model", arcname=".")
    return buffer.getvalue()


def test_a_hand_drop_is_registered_once_and_a_bad_one_rejected(
    dag, artifact, platform, stack, aws_conn, mlflow_conn, capfd
):
    import mlflow

    s3 = stack.client("s3")
    bucket = stack.client("ssm").get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    name = f"recommender-drop-{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket=bucket, Key=f"models/{name}/hand-1/model.tar.gz", Body=artifact)
    s3.put_object(Bucket=bucket, Key=f"models/{name}/broken/model.tar.gz", Body=b"not a tarball at all")

    run = dag.test()
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    out = capfd.readouterr().out
    assert run.state == "failed", states  # the bad drop is reported loudly
    assert sorted(s for (task, _), s in states.items() if task == "register_drop") == ["failed", "success"]
    assert f"models/{name}/broken/model.tar.gz rejected" in out and "not a readable gzipped tar" in out

    client = mlflow.MlflowClient(mlflow_conn.url)
    (version,) = client.search_model_versions(f"name = '{name}'")
    assert version.tags["source"] == "hand-drop" and version.tags["drop_label"] == "hand-1"
    assert version.tags["serving_artifact"] == f"s3://{bucket}/models/{name}/hand-1/model.tar.gz"
    assert client.get_model_version_by_alias(name, "champion").version == version.version  # the model's first
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=version.tags["model_package_arn"])
    assert package["ModelApprovalStatus"] == "Approved"
    (extra,) = [e for e in asset_event_extras("recommender_model_candidate", run) if e["model_name"] == name]
    assert extra["version"] == version.version and extra["source"] == "hand-drop"

    def marker(label: str) -> dict:
        return json.loads(s3.get_object(Bucket=bucket, Key=f"models/{name}/{label}/_registration.json")["Body"].read())

    assert marker("hand-1")["status"] == "registered" and marker("hand-1")["mlflow_version"] == version.version
    assert marker("broken")["status"] == "rejected" and "gzipped tar" in marker("broken")["reason"]

    # the next scan finds nothing new: no second version, no second announcement
    again = dag.test()
    assert again.state == "success"
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    assert asset_event_extras("recommender_model_candidate", again) == []
