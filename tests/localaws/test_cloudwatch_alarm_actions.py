"""Alarm actions delivered: a state change publishes CloudWatch's alarm notification to the SNS
topics of the new state's actions, read here through SQS subscriptions. No test calls
DescribeAlarms before the notification arrives: the stack's evaluator moves alarms on its own, as
CloudWatch does; DescribeAlarmHistory (which does not evaluate) tells when a transition happened."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import publish_as_service

DEADLINE_S = 15  # the evaluator runs at once after PutMetricData; passes are >= 1 s apart


@pytest.fixture
def subscribed(stack):
    """subscribed() -> (topic ARN, queue URL): a fresh topic with an SQS queue subscribed to it."""
    sns, sqs = stack.client("sns"), stack.client("sqs")

    def make(topic_arn: str | None = None) -> tuple[str, str]:
        suffix = uuid.uuid4().hex[:8]
        topic = topic_arn or sns.create_topic(Name=f"alarms-{suffix}")["TopicArn"]
        queue = sqs.create_queue(QueueName=f"alarms-{suffix}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return topic, queue

    return make


def notifications(stack, queue: str, wanted: int = 1, wait_s: float = DEADLINE_S) -> list[dict]:
    """The SNS envelopes received on `queue` until `wanted` arrived or `wait_s` passed."""
    sqs, out, deadline = stack.client("sqs"), [], time.monotonic() + wait_s
    while len(out) < wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return out


def wait_for_state(cloudwatch, name: str, state: str) -> list[dict]:
    """Wait (reading history, which does not evaluate) until the alarm has entered `state`."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        items = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        if any(i["HistoryItemType"] == "StateUpdate" and i["HistorySummary"].endswith(f"to {state}") for i in items):
            return items
        time.sleep(0.2)
    raise AssertionError(f"{name} did not enter {state} within {DEADLINE_S}s")


def _dims(tag: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": f"ep-{tag}"}, {"Name": "VariantName", "Value": "challenger"}]


def _alarm(cloudwatch, name: str, tag: str, **actions) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="latency guardrail under test",
        Namespace="Test/Alarms",
        MetricName="Latency",
        Dimensions=_dims(tag),
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
        **actions,
    )


def _put(cloudwatch, tag: str, *values: float) -> None:
    cloudwatch.put_metric_data(
        Namespace="Test/Alarms",
        MetricData=[{"MetricName": "Latency", "Dimensions": _dims(tag), "Value": v} for v in values],
    )


def test_an_alarm_entering_alarm_notifies_its_topic_once_without_being_read(stack, subscribed):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    topic, queue = subscribed()
    name = f"latency-{tag}"
    _alarm(cloudwatch, name, tag, AlarmActions=[topic])
    started = time.monotonic()
    _put(cloudwatch, tag, 50.0, 70.0)

    received = notifications(stack, queue)
    elapsed = time.monotonic() - started
    assert len(received) == 1, received
    assert notifications(stack, queue, wait_s=3) == []  # exactly one
    envelope = received[0]
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert envelope["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    message = json.loads(envelope["Message"])
    assert message["AlarmName"] == name and message["AlarmDescription"] == "latency guardrail under test"
    assert message["NewStateValue"] == "ALARM" and message["OldStateValue"] == "INSUFFICIENT_DATA"
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [60.0 (")
    assert "was greater than the threshold (10.0)" in message["NewStateReason"]
    assert message["Region"] == "US East (N. Virginia)" and message["AWSAccountId"] == "123456789012"
    assert message["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    assert message["AlarmActions"] == [topic] and message["OKActions"] == []
    assert message["InsufficientDataActions"] == []
    assert message["StateChangeTime"].endswith("+0000") and message["AlarmConfigurationUpdatedTimestamp"]
    assert message["Trigger"] == {
        "MetricName": "Latency",
        "Namespace": "Test/Alarms",
        "StatisticType": "Statistic",
        "Statistic": "AVERAGE",
        "Unit": None,
        "Dimensions": [{"value": f"ep-{tag}", "name": "EndpointName"}, {"value": "challenger", "name": "VariantName"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 10.0,
        "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
    }
    history = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert [(i["HistoryItemType"], i["HistorySummary"]) for i in history] == [
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
    ]
    print(f"notification received {elapsed:.2f}s after PutMetricData")


def test_back_under_the_threshold_notifies_ok_only_with_ok_actions(stack, subscribed):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    (topic_ok, queue_ok), (topic_alarm, queue_alarm) = subscribed(), subscribed()
    with_ok, without_ok = f"with-ok-{tag}", f"without-ok-{tag}"
    _alarm(cloudwatch, with_ok, tag, AlarmActions=[topic_ok], OKActions=[topic_ok])
    _alarm(cloudwatch, without_ok, tag, AlarmActions=[topic_alarm])
    _put(cloudwatch, tag, 50.0)
    assert [json.loads(n["Message"])["NewStateValue"] for n in notifications(stack, queue_ok)] == ["ALARM"]
    assert [json.loads(n["Message"])["NewStateValue"] for n in notifications(stack, queue_alarm)] == ["ALARM"]

    _put(cloudwatch, tag, *[0.0] * 20)  # the average falls to 50/21
    [back] = notifications(stack, queue_ok)
    assert back["Subject"] == f'OK: "{with_ok}" in US East (N. Virginia)'
    message = json.loads(back["Message"])
    assert (message["OldStateValue"], message["NewStateValue"]) == ("ALARM", "OK")
    assert "was not greater than the threshold" in message["NewStateReason"]
    wait_for_state(cloudwatch, without_ok, "OK")
    assert notifications(stack, queue_alarm, wait_s=2) == []  # no OKActions: nothing sent


def test_actions_disabled_deliver_nothing(stack, subscribed):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    topic, queue = subscribed()
    name = f"disabled-{tag}"
    _alarm(cloudwatch, name, tag, AlarmActions=[topic], ActionsEnabled=False)
    _put(cloudwatch, tag, 50.0)
    history = wait_for_state(cloudwatch, name, "ALARM")
    assert [i["HistoryItemType"] for i in history] == ["StateUpdate"]
    assert notifications(stack, queue, wait_s=2) == []


def test_set_alarm_state_runs_the_actions_of_the_new_state(stack, subscribed):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    topic, queue = subscribed()
    name = f"manual-{tag}"
    _alarm(cloudwatch, name, tag, AlarmActions=[topic], InsufficientDataActions=[topic])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the pager")
    [envelope] = notifications(stack, queue)
    message = json.loads(envelope["Message"])
    assert message["NewStateValue"] == "ALARM" and message["NewStateReason"] == "testing the pager"
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="again")
    assert notifications(stack, queue, wait_s=2) == []  # not a change of state: no action
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="back")
    [envelope] = notifications(stack, queue)
    assert envelope["Subject"] == f'INSUFFICIENT_DATA: "{name}" in US East (N. Virginia)'


def test_an_action_that_cannot_run_is_a_failed_history_item(stack):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    name = f"unsupported-{tag}"
    missing = f"arn:aws:sns:us-east-1:123456789012:no-such-topic-{tag}"
    autoscaling = (
        "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0e6f3e5a-3b5c-4a7e-9d3b-2f1c8a7b6d5e"
        ":autoScalingGroupName/asg:policyName/up"
    )
    _alarm(cloudwatch, name, tag, AlarmActions=[missing, autoscaling])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    actions = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    summaries = sorted(i["HistorySummary"] for i in actions)
    assert summaries[0].startswith(f"Failed to execute action {autoscaling}: this action type is not emulated")
    assert summaries[1] == f"Failed to execute action {missing}: topic does not exist"
    assert {json.loads(i["HistoryData"])["actionState"] for i in actions} == {"Failed"}


def _action_summaries(cloudwatch, name: str) -> list[str]:
    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    return [i["HistorySummary"] for i in items]


def test_the_topic_policy_must_let_cloudwatch_publish(stack, subscribed):
    """A topic policy that names only the account's roles refuses CloudWatch, as on AWS: the
    notification is not delivered and the history says why, in CloudWatch's words."""
    cloudwatch, sns, tag = stack.client("cloudwatch"), stack.client("sns"), uuid.uuid4().hex[:8]
    topic, queue = subscribed()
    only_roles = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(only_roles))
    name = f"refused-{tag}"
    _alarm(cloudwatch, name, tag, AlarmActions=[topic])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    assert notifications(stack, queue, wait_s=2) == []
    alarm_arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    assert _action_summaries(cloudwatch, name) == [
        f'Failed to execute action {topic}. Received error: "Resource: {alarm_arn} is not authorized to perform:'
        f' SNS:Publish on resource: {topic}"'
    ]
    allowed = {
        **only_roles,
        "Statement": [{**only_roles["Statement"][0], "Principal": {"Service": "cloudwatch.amazonaws.com"}}],
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(allowed))
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="again")
    assert len(notifications(stack, queue)) == 1


def test_an_encrypted_topic_needs_a_key_cloudwatch_may_use(stack, subscribed):
    """SSE topics: the AWS managed key (alias/aws/sns) and a customer key whose policy leaves out
    CloudWatch both refuse; a key policy granting cloudwatch.amazonaws.com lets the notification through."""
    cloudwatch, sns, kms, tag = (
        stack.client("cloudwatch"),
        stack.client("sns"),
        stack.client("kms"),
        uuid.uuid4().hex[:8],
    )
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    cloudwatch_use = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
    account_only = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [root]}))["KeyMetadata"]
    with_cloudwatch = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [root, cloudwatch_use]}))
    denied = "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
    for key, delivered in (
        ("alias/aws/sns", False),
        (account_only["KeyId"], False),
        (with_cloudwatch["KeyMetadata"]["Arn"], True),
    ):
        topic, queue = subscribed()
        sns.set_topic_attributes(TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue=key)
        name = f"sse-{tag}-{delivered}-{key[-6:].replace('/', '')}"
        _alarm(cloudwatch, name, tag, AlarmActions=[topic])
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
        if delivered:
            assert len(notifications(stack, queue)) == 1
            assert _action_summaries(cloudwatch, name) == [f"Successfully executed action {topic}"]
        else:
            assert notifications(stack, queue, wait_s=2) == []
            assert _action_summaries(cloudwatch, name) == [
                f'Failed to execute action {topic}. Received error: "{denied}"'
            ], key


def test_put_metric_alarm_keeps_the_state_of_an_existing_alarm(stack):
    cloudwatch, tag = stack.client("cloudwatch"), uuid.uuid4().hex[:8]
    name = f"kept-{tag}"
    _alarm(cloudwatch, name, tag)
    assert cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"] == []  # new: INSUFFICIENT_DATA
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="held")
    _alarm(cloudwatch, name, tag, AlarmActions=[])  # an update: AWS leaves the state unchanged
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "held")


@pytest.mark.slow
def test_a_serving_guardrail_alarm_notifies_the_alert_topic(platform, stack, subscribed):
    """The challenger 5xx-rate alarm as serving.yaml deploys it (metric math, DatapointsToAlarm of
    EvaluationPeriods), replicated on an endpoint of its own so that the platform's endpoint keeps
    clean metrics for the other tests: breaching data in enough periods reaches the alert topic."""
    cloudwatch, ssm, tag = stack.client("cloudwatch"), stack.client("ssm"), uuid.uuid4().hex[:8]
    outputs = {
        key: ssm.get_parameter(Name=f"/mlops/dev/stacks/serving/{key}")["Parameter"]["Value"]
        for key in ("AlertTopicArn", "ChallengerGuardrailAlarms")
    }
    deployed_name = next(n for n in outputs["ChallengerGuardrailAlarms"].split(",") if n.endswith("5xx-rate"))
    deployed = cloudwatch.describe_alarms(AlarmNames=[deployed_name])["MetricAlarms"][0]
    assert deployed["AlarmActions"] == [outputs["AlertTopicArn"]] and deployed["ActionsEnabled"]
    topic, queue = subscribed(outputs["AlertTopicArn"])

    endpoint = f"ep-{tag}"
    metrics = json.loads(json.dumps(deployed["Metrics"]))
    for query in metrics:
        if "MetricStat" in query:
            for dimension in query["MetricStat"]["Metric"]["Dimensions"]:
                if dimension["Name"] == "EndpointName":
                    dimension["Value"] = endpoint
    name = f"{deployed_name}-{tag}"
    keys = ("AlarmDescription", "AlarmActions", "EvaluationPeriods", "DatapointsToAlarm", "Threshold")
    keys += ("ComparisonOperator", "TreatMissingData", "ActionsEnabled")
    cloudwatch.put_metric_alarm(AlarmName=name, Metrics=metrics, **{k: deployed[k] for k in keys})
    try:
        period = next(q["MetricStat"]["Period"] for q in metrics if "MetricStat" in q)
        now = datetime.now(UTC)
        data = []
        for back in range(deployed["DatapointsToAlarm"]):  # one breaching period after another
            at = now - timedelta(seconds=period * back + period / 2)
            dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "challenger"}]
            data += [{"MetricName": "Invocations", "Dimensions": dims, "Value": 10.0, "Timestamp": at}]
            data += [{"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Value": 4.0, "Timestamp": at}]
        publish_as_service("AWS/SageMaker", data)  # 40% > the threshold

        [envelope] = notifications(stack, queue)
        assert envelope["TopicArn"] == topic and envelope["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
        message = json.loads(envelope["Message"])
        assert message["NewStateValue"] == "ALARM" and message["AlarmDescription"] == deployed["AlarmDescription"]
        trigger = message["Trigger"]
        assert trigger["EvaluationPeriods"] == deployed["EvaluationPeriods"]
        assert trigger["DatapointsToAlarm"] == deployed["DatapointsToAlarm"]
        assert {m["Id"] for m in trigger["Metrics"]} == {"errors", "invocations", "rate"}
        rate = next(m for m in trigger["Metrics"] if m["Id"] == "rate")
        assert rate["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)" and rate["ReturnData"]
        errors = next(m for m in trigger["Metrics"] if m["Id"] == "errors")
        assert errors["MetricStat"]["Metric"]["MetricName"] == "Invocation5XXErrors"
        assert {"value": endpoint, "name": "EndpointName"} in errors["MetricStat"]["Metric"]["Dimensions"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])


def test_the_evaluator_runs_with_its_stack_without_busy_looping(monkeypatch):
    from localaws.cloudwatch.patches import alarm_evaluation
    from localaws.server import LocalAwsStack

    monkeypatch.setattr(alarm_evaluation, "EVALUATE_EVERY_S", 0.0)  # even then, passes are >= 1 s apart
    with LocalAwsStack() as own:
        thread = own.alarms._thread
        assert thread is not None and thread.is_alive()
        time.sleep(2.5)
        assert 1 <= own.alarms.passes <= 3
    assert not thread.is_alive() and own.alarms.wake not in alarm_evaluation.listeners
