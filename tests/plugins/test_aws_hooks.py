"""The small AWS hooks the task modules use, against the local stack (no DAG run)."""

from __future__ import annotations

import json
import uuid


def test_model_packages_are_created_in_their_group_and_approval_moves_once(admin_conn):
    from mlops.hooks.sagemaker_model_package import SageMakerModelPackageHook

    group = f"hook-test-{uuid.uuid4().hex[:6]}"
    hook = SageMakerModelPackageHook(aws_conn_id="aws_default")
    arn = hook.create_package(
        group,
        image="img",
        model_data_url="s3://b/model.tar.gz",
        approval_status="PendingManualApproval",
        description="MLflow m version 1",
        metadata={"mlflow_model": "m", "mlflow_version": "1"},
    )
    hook.ensure_group(group)  # exists: nothing to do
    sagemaker = admin_conn.client("sagemaker")
    assert [
        p["ModelPackageArn"]
        for p in sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    ] == [arn]
    assert hook.set_approval(arn, "Approved", "won the A/B test") == "PendingManualApproval"
    assert hook.set_approval(arn, "Approved") == "Approved"
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ModelPackageDescription"] == "MLflow m version 1"
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == "s3://b/model.tar.gz"


def test_processed_months_reads_manifests_and_skips_gaps(admin_conn):
    from mlops.hooks.processed_months import ProcessedMonthsHook

    bucket = f"processed-{uuid.uuid4().hex[:8]}"
    s3 = admin_conn.client("s3")
    s3.create_bucket(Bucket=bucket)
    for month in ("2011-01", "2011-03"):
        body = json.dumps({"month": month, "files": {"interactions.parquet": f"s3://{bucket}/{month}.parquet"}})
        s3.put_object(Bucket=bucket, Key=f"processed/month={month}/_manifest.json", Body=body)
    hook = ProcessedMonthsHook(bucket, aws_conn_id="aws_default")
    assert hook.manifest("2011-02") is None
    assert hook.files("2011-03") == {"interactions.parquet": f"s3://{bucket}/2011-03.parquet"}
    assert [w["month"] for w in hook.window(["2011-01", "2011-02", "2011-03"])] == ["2011-01", "2011-03"]
    try:
        hook.files("2011-02")
    except ValueError as err:
        assert str(err) == f"month 2011-02 is not processed: s3://{bucket}/processed/month=2011-02/"
    else:
        raise AssertionError("a missing month must be an error")


def test_ssm_parameters_and_cloudwatch_metrics_are_published(admin_conn):
    from mlops.hooks.cloudwatch_metrics import CloudWatchMetricsHook
    from mlops.hooks.ssm_parameters import SsmParameterHook

    name = f"/hook-test/{uuid.uuid4().hex[:6]}"
    SsmParameterHook(aws_conn_id="aws_default").put_string(name, "v1", "first")
    SsmParameterHook(aws_conn_id="aws_default").put_string(name, "v2", "second")
    assert admin_conn.client("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "v2"

    namespace = f"HookTest/{uuid.uuid4().hex[:6]}"
    CloudWatchMetricsHook(aws_conn_id="aws_default").put(namespace, {"ndcg": 0.3, "coverage": 1}, {"Recipe": "r"})
    listed = admin_conn.client("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["coverage", "ndcg"]
    assert all(m["Dimensions"] == [{"Name": "Recipe", "Value": "r"}] for m in listed)


def test_a_guardrail_breach_that_cleared_between_two_looks_still_counts(admin_conn):
    """The A/B watch reads the alarms' StateUpdate history since its last look, not only their state
    now: an alarm that went to ALARM and back to OK in between is a breach."""
    from datetime import UTC, datetime, timedelta

    from mlops.hooks.ab_tests import AbMetricsHook

    cloudwatch = admin_conn.client("cloudwatch")
    flapped, quiet = (f"mlops-hooktest-{uuid.uuid4().hex[:6]}-{kind}" for kind in ("latency", "5xx"))
    for name in (flapped, quiet):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName="ModelLatency",
            Dimensions=[{"Name": "EndpointName", "Value": "hook-test"}, {"Name": "VariantName", "Value": "challenger"}],
            ExtendedStatistic="p95",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5_000_000,
            ComparisonOperator="GreaterThanThreshold",
        )
    since = datetime.now(UTC) - timedelta(seconds=1)
    cloudwatch.set_alarm_state(AlarmName=flapped, StateValue="ALARM", StateReason="p95 above 5 s")
    cloudwatch.set_alarm_state(AlarmName=flapped, StateValue="OK", StateReason="back under 5 s")
    hook = AbMetricsHook(aws_conn_id="aws_default")
    assert hook.alarms_firing([flapped, quiet]) == []
    assert hook.alarms_breached_since([flapped, quiet], since) == [flapped]
    assert hook.alarms_breached_since([flapped, quiet], datetime.now(UTC) + timedelta(seconds=1)) == []


def test_metric_periods_follow_cloudwatchs_retention():
    """1-minute data lives 15 days, 5-minute 63 days, then hourly; at most 1,440 points a metric."""
    from mlops.hooks.ab_tests import metric_period

    assert metric_period(10) == 60 and metric_period(86400) == 60
    assert metric_period(14 * 86400) == 840  # 14 days: 1,440 points of 14 minutes
    assert metric_period(16 * 86400) == 1200  # past 15 days: 960 s rounded up to 5-minute multiples
    assert metric_period(30 * 86400) % 300 == 0 and 30 * 86400 / metric_period(30 * 86400) <= 1440
    assert metric_period(70 * 86400) == 7200  # past 63 days: hourly multiples
