"""raw_data_landing end to end with `dag.test()` on the local stack: a real Fargate job, a deferred
S3 wait and ECS wait whose triggers poll the stack, the Asset event, reruns, and failures."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import asset_event_extras
from tests.dags.conftest import states

pytestmark = pytest.mark.slow
DAG_ID = "raw_data_landing"

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


@pytest.fixture
def landing(airflow_db, platform, aws_conn):
    return platform


def raw_keys(stack, bucket: str, month: str) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"raw/online-retail/month={month}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_lands_a_real_month_and_announces_it(dag, landing, aws_conn):
    dag_run = dag.test(run_conf={"month": "2011-09"})
    assert dag_run.state == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}
    bucket = landing["InputBucket"]
    manifest_key = "raw/online-retail/month=2011-09/_manifest.json"
    manifest = json.loads(aws_conn.client("s3").get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert raw_keys(aws_conn, bucket, "2011-09") == [manifest_key, manifest["data_uri"].split("/", 3)[3]]
    assert "/month=2011-09/landing=" in manifest["data_uri"]
    assert manifest["rows"] == 50_226
    assert manifest["task_arn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/mlops-jobs-dev/")

    events = asset_event_extras("online_retail_raw_month", dag_run)
    assert [e["month"] for e in events] == ["2011-09"]
    assert events[0]["rows"] == 50_226


def test_rerun_of_a_month_replaces_it_without_duplicates(dag, landing, aws_conn):
    first = dag.test(run_conf={"month": "2011-10"})
    before = raw_keys(aws_conn, landing["InputBucket"], "2011-10")
    second = dag.test(run_conf={"month": "2011-10"})
    assert (first.state, second.state) == ("success", "success")
    after = raw_keys(aws_conn, landing["InputBucket"], "2011-10")
    assert len(before) == len(after) == 2 and before[0] == after[0]  # the manifest, and one landing each time
    assert before[1] != after[1]  # the rerun's data under keys of its own, never under the old manifest


def test_a_failing_job_fails_the_run_and_shows_why(dag, landing, aws_conn, monkeypatch, capfd):
    """A partner file with a renamed column: the container's own error reaches the Airflow task."""
    s3 = aws_conn.client("s3")
    body = (HEADER.replace("Country", "Land") + "1,2,3,4,2011-01-01 10:00:00,1.0,5,UK\n").encode()
    s3.put_object(Bucket="partner-drop", Key="broken/2011-01.csv.gz", Body=body)
    digest = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket="partner-drop", Key="broken/SHA256SUMS", Body=f"{digest}  2011-01.csv.gz\n".encode())
    monkeypatch.setenv("AIRFLOW_VAR_RAW_DROP_PREFIX", "s3://partner-drop/broken/")
    dag.get_task("ingest").retries = 0
    dag_run = dag.test(run_conf={"month": "2011-01"})
    assert dag_run.state == "failed"
    assert states(dag_run) == {
        "plan_landing": "success",
        "wait_for_drop": "success",
        "ingest": "failed",
        "publish_landed": "upstream_failed",
    }
    assert raw_keys(aws_conn, landing["InputBucket"], "2011-01") == []
    out, err = capfd.readouterr()
    logged = out + err
    assert "ERROR: s3://partner-drop/broken/2011-01.csv.gz line 1: header" in logged, logged[-3000:]
    assert "unexpected ['Land']" in logged
    assert "log lines of /ecs/mlops-jobs-dev/ingest/ingest/" in logged


def test_a_missing_image_fails_the_plan_naming_repository_and_tag(dag, landing, aws_conn, capfd):
    """The ingest image not pushed: the run stops before waiting or starting a task, and says what to push."""
    from devstack.provision import push_images
    from include.images import image_tag

    tag = image_tag("raw-ingest")
    ecr = aws_conn.client("ecr")  # the account's admin, as a registry clean-up would
    ecr.batch_delete_image(repositoryName="mlops-raw-ingest-dev", imageIds=[{"imageTag": tag}])
    try:
        dag.get_task("plan_landing").retries = 0
        dag_run = dag.test(run_conf={"month": "2011-09"})
    finally:
        push_images(aws_conn.client)
    assert dag_run.state == "failed"
    assert states(dag_run) == {
        "plan_landing": "failed",
        "wait_for_drop": "upstream_failed",
        "ingest": "upstream_failed",
        "publish_landed": "upstream_failed",
    }
    logged = "".join(capfd.readouterr())
    missing = f"image mlops-raw-ingest-dev:{tag} is not in ECR (registry 123456789012, us-east-1)"
    assert missing in logged, logged[-3000:]
    assert "push it (make push-images)" in logged
