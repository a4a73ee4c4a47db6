"""Local CloudWatch alarms evaluate their metrics, as the A/B guardrails need."""

from __future__ import annotations

import uuid

import pytest

from localaws.cloudwatch.patches import alarm_evaluation as alarms
from tests.conftest import publish_as_service


@pytest.fixture(autouse=True)
def _evaluate_every_read(monkeypatch):
    monkeypatch.setattr(alarms, "EVALUATE_EVERY_S", 0.0)


def _state(cloudwatch, name: str) -> dict:
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def _dims(endpoint: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "challenger"}]


def test_a_percentile_alarm_follows_its_metric(stack):
    cloudwatch, endpoint = stack.client("cloudwatch"), f"ep-{uuid.uuid4().hex[:6]}"
    name = f"latency-{endpoint}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=_dims(endpoint),
        ExtendedStatistic="p95",
        Period=60,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=100_000,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    assert _state(cloudwatch, name)["StateValue"] == "OK"  # no data, not breaching
    fast = [{"MetricName": "ModelLatency", "Dimensions": _dims(endpoint), "Value": 2_000.0} for _ in range(19)]
    publish_as_service("AWS/SageMaker", fast)
    publish_as_service(
        "AWS/SageMaker", [{"MetricName": "ModelLatency", "Dimensions": _dims(endpoint), "Value": 900_000.0}]
    )
    assert _state(cloudwatch, name)["StateValue"] == "OK"  # one slow call in 20 is the p100, not the p95
    publish_as_service(
        "AWS/SageMaker",
        [{"MetricName": "ModelLatency", "Dimensions": _dims(endpoint), "Value": 900_000.0} for _ in range(5)],
    )
    alarm = _state(cloudwatch, name)
    assert alarm["StateValue"] == "ALARM" and "Threshold Crossed" in alarm["StateReason"]


def test_a_metric_math_error_rate_alarm_and_set_alarm_state(stack):
    cloudwatch, endpoint = stack.client("cloudwatch"), f"ep-{uuid.uuid4().hex[:6]}"
    name = f"errors-{endpoint}"

    def stat(metric: str) -> dict:
        return {
            "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": _dims(endpoint)},
            "Period": 60,
            "Stat": "Sum",
        }

    cloudwatch.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        Metrics=[
            {"Id": "errors", "MetricStat": stat("Invocation5XXErrors"), "ReturnData": False},
            {"Id": "invocations", "MetricStat": stat("Invocations"), "ReturnData": False},
            {"Id": "rate", "Expression": "IF(invocations > 0, 100 * errors / invocations, 0)", "ReturnData": True},
        ],
    )

    def calls(n: int, failed: int) -> None:
        data = [{"MetricName": "Invocations", "Dimensions": _dims(endpoint), "Value": 1.0} for _ in range(n)]
        data += [
            {"MetricName": "Invocation5XXErrors", "Dimensions": _dims(endpoint), "Value": float(i < failed)}
            for i in range(n)
        ]
        publish_as_service("AWS/SageMaker", data)

    calls(100, 3)
    assert _state(cloudwatch, name)["StateValue"] == "OK"  # 3%
    calls(100, 12)
    assert _state(cloudwatch, name)["StateValue"] == "ALARM"  # 15 of 200 = 7.5%

    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="operator reset")
    assert _state(cloudwatch, name)["StateValue"] == "OK"  # held for a period, as on AWS
    assert _state(cloudwatch, name)["StateReason"] == "operator reset"


def test_metric_math_evaluation_on_known_values():
    expression = "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert alarms.expression_value(expression, {"errors": 3.0, "invocations": 60.0}) == pytest.approx(5.0)
    assert alarms.expression_value(expression, {"errors": 0.0, "invocations": 0.0}) == 0.0
    assert alarms.expression_value(expression, {"errors": None, "invocations": 10.0}) is None
    with pytest.raises(ValueError, match="unknown id 'x'"):
        alarms.expression_value("x + 1", {})
    with pytest.raises(ValueError, match="not supported"):
        alarms.expression_value("__import__('os')", {})
    assert alarms.statistic([1, 2, 3, 4, 100], "p80") == 4 and alarms.statistic([], "Sum") is None


def test_the_metric_index_follows_new_datapoints_in_any_order():
    from datetime import datetime, timedelta

    from moto.cloudwatch.models import CloudWatchBackend, Dimension

    backend = CloudWatchBackend("us-east-1", "123456789012")
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    dims = [{"Name": "VariantName", "Value": "champion"}]

    def put(*points):
        data = [
            {"MetricName": "M", "Dimensions": dims, "Value": v, "Timestamp": t0 + timedelta(seconds=s)}
            for s, v in points
        ]
        backend.put_metric_data("N", data)

    wanted = [Dimension("VariantName", "champion")]
    put((30, 3.0), (0, 1.0), (59, 2.0))
    index = alarms.MetricIndex.of(backend)
    assert index.values("N", "M", wanted, t0, t0 + timedelta(seconds=60)) == [1.0, 3.0, 2.0]  # time order
    put((60, 9.0), (10, 4.0))  # the next period's start, and a late datapoint
    index = alarms.MetricIndex.of(backend)
    assert index.values("N", "M", wanted, t0, t0 + timedelta(seconds=60)) == [1.0, 4.0, 3.0, 2.0]
    assert index.values("N", "M", wanted, t0 + timedelta(seconds=60), t0 + timedelta(seconds=120)) == [9.0]
    assert index.values("N", "M", [], t0, t0 + timedelta(seconds=120)) == []  # other dimensions: another series


def test_clients_may_not_publish_into_aws_namespaces(stack):
    """AWS/ namespaces are the services' own: a forged AWS/SageMaker datum is refused as CloudWatch
    refuses it, so nothing but the endpoint can move the guardrails."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        stack.client("cloudwatch").put_metric_data(
            Namespace="AWS/SageMaker", MetricData=[{"MetricName": "Invocation5XXErrors", "Value": 1.0}]
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == "The value AWS/SageMaker for parameter Namespace is invalid."
