"""model_drop: a version dropped by hand under a served name is checked, repacked with the project's
serving code under its sha256, registered once as challenger and announced; a drop breaking a rule
is rejected with its reason and never looked at again; overwriting a drop changes nothing served."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from devstack.datasets import month_file
from include.preprocessing import job as preprocessing
from include.training import train
from tests.conftest import asset_event_extras
from tests.dags.conftest import load_dag

pytestmark = pytest.mark.slow
INFERENCE = Path(train.__file__).with_name("inference.py")


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


def test_a_hand_drop_becomes_a_challenger_served_from_its_own_content_addressed_repack(
    dag, artifact, platform, stack, aws_conn, mlflow_conn, capfd, monkeypatch
):
    """One run over five drops: a good one under a served name with a champion (registered as
    challenger, repacked without its own code), one under a served name without a champion, one
    under a name nobody serves, and a broken one (all three refused with their reason); then the
    good drop is overwritten, which changes nothing served, and a rerun finds nothing new."""
    import mlflow

    from mlops import settings

    s3 = stack.client("s3")
    bucket = stack.client("ssm").get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    suffix = uuid.uuid4().hex[:6]
    name, lonely, unknown = f"recommender-drop-{suffix}", f"recommender-lonely-{suffix}", f"someone-else-{suffix}"
    monkeypatch.setattr(settings, "SERVED_MODEL_NAMES", (name, lonely))  # the task reads it at run time
    client = mlflow.MlflowClient(mlflow_conn.url)
    client.create_registered_model(name)  # a champion serves `name` (as model_training would leave it)
    champion_artifact = f"s3://{bucket}/training/drop-test/{suffix}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=champion_artifact.split("/", 3)[3], Body=artifact)
    champion = client.create_model_version(name, champion_artifact, tags={"model_artifact": champion_artifact})
    client.set_registered_model_alias(name, "champion", champion.version)

    tampered = _with_own_code(artifact, b"import os\nos.system('exfiltrate')\n")
    s3.put_object(Bucket=bucket, Key=f"models/{name}/hand-1/model.tar.gz", Body=tampered)
    s3.put_object(Bucket=bucket, Key=f"models/{name}/broken/model.tar.gz", Body=b"not a tarball at all")
    s3.put_object(Bucket=bucket, Key=f"models/{lonely}/hand-1/model.tar.gz", Body=artifact)
    s3.put_object(Bucket=bucket, Key=f"models/{unknown}/hand-1/model.tar.gz", Body=artifact)

    run = dag.test()
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    out = capfd.readouterr().out
    assert run.state == "failed", states  # the refused drops are reported loudly
    assert sorted(s for (task, _), s in states.items() if task == "register_drop") == [
        "failed",
        "failed",
        "failed",
        "success",
    ]
    assert f"models/{name}/broken/model.tar.gz rejected" in out and "not a readable gzipped tar" in out
    assert f"models/{unknown}/ is not a served model name" in out
    assert f"{lonely} has no champion serving" in out

    def marker(model: str, label: str) -> dict:
        key = f"models/{model}/{label}/_registration.json"
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    assert marker(name, "broken")["status"] == "rejected" and "gzipped tar" in marker(name, "broken")["reason"]
    assert marker(unknown, "hand-1")["status"] == "rejected"
    assert "no champion serving" in marker(lonely, "hand-1")["reason"]
    assert client.search_model_versions(f"name = '{lonely}'") == []

    (version,) = [v for v in client.search_model_versions(f"name = '{name}'") if v.version != champion.version]
    served = version.tags["serving_artifact"]
    digest = hashlib.sha256(tampered).hexdigest()
    assert version.tags["source"] == "hand-drop" and version.tags["drop_label"] == "hand-1"
    assert version.tags["drop_uri"] == f"s3://{bucket}/models/{name}/hand-1/model.tar.gz"
    assert version.tags["drop_sha256"] == digest and version.tags["model_artifact"] == served
    assert client.get_model_version_by_alias(name, "champion").version == champion.version  # unchanged
    assert client.get_model_version_by_alias(name, "challenger").version == version.version
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=version.tags["model_package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == served
    (extra,) = [e for e in asset_event_extras("recommender_model_candidate", run) if e["model_name"] == name]
    assert extra["version"] == version.version and extra["alias"] == "challenger"
    assert (
        marker(name, "hand-1")["status"] == "registered" and marker(name, "hand-1")["mlflow_version"] == version.version
    )

    def served_bytes() -> bytes:
        return s3.get_object(Bucket=bucket, Key=served.split("/", 3)[3])["Body"].read()

    repacked = served_bytes()
    assert served == f"s3://{bucket}/models/{name}/_sha256/{hashlib.sha256(repacked).hexdigest()}/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(repacked)) as archive:
        assert archive.extractfile("code/inference.py").read() == INFERENCE.read_bytes()  # the drop's code: gone

    # the drop is overwritten after registration: what the package and MLflow point at does not change
    s3.put_object(Bucket=bucket, Key=f"models/{name}/hand-1/model.tar.gz", Body=b"something else entirely")
    assert served_bytes() == repacked
    again = dag.test()
    assert again.state == "success"
    assert len(client.search_model_versions(f"name = '{name}'")) == 2  # the champion and the one drop
    assert asset_event_extras("recommender_model_candidate", again) == []
    assert served_bytes() == repacked


def _with_own_code(artifact: bytes, code: bytes) -> bytes:
    """The artifact with its code/inference.py replaced by the dropper's own."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(artifact)) as source, tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source:
            if member.name.lstrip("./") == "code/inference.py":
                member.size = len(code)
                target.addfile(member, io.BytesIO(code))
            else:
                target.addfile(member, source.extractfile(member) if member.isreg() else None)
    return out.getvalue()
