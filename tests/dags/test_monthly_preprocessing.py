"""monthly_preprocessing end to end with `dag.test()` on the local stack: the real job on a real
month in a local "Fargate" task, deferred waits, the quality gate, Feature Store records, the
Asset event, reruns that replace, and failures that say why."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest

from devstack.datasets import month_file
from include.jobs import raw_ingest
from tests.conftest import asset_event_extras
from tests.dags.conftest import states

pytestmark = pytest.mark.slow
DAG_ID = "monthly_preprocessing"


def land(stack, bucket: str, month: str, body: bytes | None = None) -> None:
    """Land a month with the raw-landing job's own code, as raw_data_landing does."""
    s3 = stack.client("s3")
    s3.put_object(Bucket="partner-drop", Key=f"tests/{month}.csv.gz", Body=body or month_file(month).read_bytes())
    raw_ingest.run(
        {
            "SOURCE_URI": f"s3://partner-drop/tests/{month}.csv.gz",
            "TARGET_PREFIX": f"s3://{bucket}/raw/online-retail/month={month}/",
            "MONTH": month,
        },
        s3,
    )


@pytest.fixture
def ready(airflow_db, platform, aws_conn):
    land(aws_conn, platform["InputBucket"], "2011-10")
    return platform


def output_keys(stack, bucket: str, month: str) -> list[str]:
    pages = (
        stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"processed/month={month}/")
    )
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def manifest(stack, bucket: str, month: str) -> dict:
    body = stack.client("s3").get_object(Bucket=bucket, Key=f"processed/month={month}/_manifest.json")["Body"]
    return json.loads(body.read())


def user_record(stack, user: str) -> dict[str, str]:
    record = stack.client("sagemaker-featurestore-runtime").get_record(
        FeatureGroupName="mlops-user-features-dev", RecordIdentifierValueAsString=user
    )["Record"]
    return {e["FeatureName"]: e["ValueAsString"] for e in record}


def test_preprocesses_a_real_month_publishes_features_and_announces_it(dag, ready, aws_conn):
    dag_run = dag.test(run_conf={"month": "2011-10", "refit_model": True})
    assert dag_run.state == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}

    published = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    report = published["report"]
    assert report["rows_in"] == 60_742 and report["quarantined_by_reason"]["cancellation"] == 1_200
    assert report["rows_in"] == report["rows_out"] + report["rows_quarantined"]
    assert published["task_arn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/mlops-jobs-dev/")
    assert published["run_id"].startswith("manual__")

    # 12347 (Iceland) bought once in October 2011, on the 31st
    features = user_record(aws_conn, "12347")
    assert features["country"] == "Iceland" and features["frequency"] == "1"
    assert features["event_time"] == "2011-10-31T23:59:59Z"
    item = aws_conn.client("sagemaker-featurestore-runtime").get_record(
        FeatureGroupName="mlops-item-features-dev", RecordIdentifierValueAsString="85099B"
    )["Record"]
    assert {e["FeatureName"] for e in item} == {"item_id", "unit_price", "popularity", "buyers", "event_time"}

    events = asset_event_extras("online_retail_processed_month", dag_run)
    assert [e["month"] for e in events] == ["2011-10"]
    assert events[0]["rows_out"] == report["rows_out"]
    assert events[0]["files"]["personalize_interactions.csv"].endswith("personalize_interactions.csv")


def capacity(stack, task_arn: str) -> tuple[str | None, str]:
    """The capacity provider and launch type an ECS task ran on."""
    found = stack.client("ecs").describe_tasks(cluster="mlops-jobs-dev", tasks=[task_arn])["tasks"][0]
    return found.get("capacityProviderName"), found["launchType"]


def test_a_rerun_reuses_the_model_and_replaces_the_month(dag, ready, aws_conn):
    first = dag.test(run_conf={"month": "2011-10"})
    before = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    assert capacity(aws_conn, before["task_arn"]) == ("FARGATE_SPOT", "FARGATE")  # Spot when there is some
    aws_conn.backend("ecs", "123456789012", "us-east-1").spot_unavailable = 1  # the rerun finds none
    second = dag.test(run_conf={"month": "2011-10"})
    assert (first.state, second.state) == ("success", "success")
    assert capacity(aws_conn, manifest(aws_conn, ready["OutputBucket"], "2011-10")["task_arn"]) == (None, "FARGATE")
    assert states(second)["fit_model"] == "skipped"  # a model exists: no refit
    after = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    assert after["run_id"] != before["run_id"]
    assert after["report"]["rows_out"] == before["report"]["rows_out"]
    runs = {key.split("/")[2] for key in output_keys(aws_conn, ready["OutputBucket"], "2011-10") if "/run=" in key}
    assert runs == {after["run_prefix"].split("/")[-2]}  # the earlier run is gone: no duplicates
    assert after["run_prefix"].split("/")[-2].startswith(f"run={after['run_id']}.")


def test_a_scheduled_run_preprocesses_the_month_before_its_logical_date(dag, ready, aws_conn):
    """What a backfill does for each month: no Param, the logical date on the 15th decides."""
    import pendulum

    dag_run = dag.test(logical_date=pendulum.datetime(2011, 11, 15, 9, tz="UTC"))
    assert dag_run.state == "success", states(dag_run)
    assert dag_run.logical_date == pendulum.datetime(2011, 11, 15, 9, tz="UTC")
    published = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    assert published["month"] == "2011-10"
    assert published["run_id"] == dag_run.run_id.replace(":", "-").replace("+", "-")  # this run wrote it


def test_a_malformed_month_fails_the_job_and_its_log_lines_reach_the_task_log(dag, ready, aws_conn, capfd):
    lines = gzip.decompress(month_file("2011-10").read_bytes()).decode().splitlines()
    lines[1000:] = [line.replace("2011-10-", "10/2011/", 1) for line in lines[1000:]]  # another date format
    land(aws_conn, ready["InputBucket"], "2011-11", gzip.compress(("\n".join(lines) + "\n").encode()))
    dag.get_task("preprocess").retries = 0
    dag_run = dag.test(run_conf={"month": "2011-11"})
    assert dag_run.state == "failed"
    got = states(dag_run)
    assert got["preprocess"] == "failed" and got["check_quality"] == "upstream_failed"
    assert got["promote"] == "upstream_failed"
    assert output_keys(aws_conn, ready["OutputBucket"], "2011-11") == []
    out, err = capfd.readouterr()
    logged = out + err
    assert "ERROR: s3://" in logged and "column InvoiceDate: values that are not dates" in logged, logged[-3000:]
    assert "first at line 1001 '10/2011/" in logged
    assert "log lines of /ecs/mlops-jobs-dev/preprocess/preprocess/" in logged


def test_the_quality_gate_fails_a_month_beyond_its_thresholds_and_the_previous_run_stays_live(
    dag, ready, aws_conn, capfd
):
    good = dag.test(run_conf={"month": "2011-10"})
    assert good.state == "success", states(good)
    live = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    capfd.readouterr()

    dag_run = dag.test(run_conf={"month": "2011-10", "max_quarantine_share": 0.1})
    assert dag_run.state == "failed"
    got = states(dag_run)
    assert got["preprocess"] == "success" and got["check_quality"] == "failed"
    assert got["promote"] == "upstream_failed" and got["announce"] == "upstream_failed"
    logged = "".join(capfd.readouterr())
    assert "quality gate failed for 2011-10: quarantined share 0.187 > 0.1" in logged
    assert f"not published: run {live['run_id']} stays live" in logged
    # readers still see the good run, whole; the refused candidate is only in _candidate.json
    assert manifest(aws_conn, ready["OutputBucket"], "2011-10") == live
    keys = output_keys(aws_conn, ready["OutputBucket"], "2011-10")
    for uri in live["files"].values():
        assert uri.split("/", 3)[3] in keys
    assert "processed/month=2011-10/_candidate.json" in keys


def test_a_retried_job_that_fails_on_an_upload_never_touches_the_live_month(dag, ready, aws_conn, capfd):
    """`preprocess` fails on an upload (S3 refuses it: fault injected), Airflow retries it in the
    same run with the same RUN_ID; the live month is intact meanwhile, and the retry's candidate is
    promoted only after the gate. (A failure after some files: tests/include/test_preprocessing_job.py)"""
    from localaws.faults import ApiFault

    first = dag.test(run_conf={"month": "2011-10"})
    assert first.state == "success", states(first)
    live = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    # the next PutObject - the job's first upload - is refused; AccessDenied is not retried by botocore
    aws_conn.faults.arm(ApiFault("s3", "PutObject", "AccessDenied", "Access Denied (injected)", 1, 403))
    preprocess = dag.get_task("preprocess")
    preprocess.retries, preprocess.retry_delay = 1, timedelta(seconds=1)
    second = dag.test(run_conf={"month": "2011-10"})
    assert aws_conn.faults.snapshot()["api"] == []  # the fault was spent on the first attempt
    assert second.state == "success", states(second)
    assert {ti.task_id: ti.try_number for ti in second.get_task_instances()}["preprocess"] == 2  # failed, retried
    logged = "".join(capfd.readouterr())
    assert "ERROR: AWS call failed: " in logged and "(AccessDenied) when calling the PutObject operation" in logged
    after = manifest(aws_conn, ready["OutputBucket"], "2011-10")
    assert after["run_id"] != live["run_id"]
    runs = {key.split("/")[2] for key in output_keys(aws_conn, ready["OutputBucket"], "2011-10") if "/run=" in key}
    assert runs == {after["run_prefix"].split("/")[-2]}
