"""EventBridge as the platform's failed-run rules need it: service events matched inside arrays,
delivered to SNS only as the topic's policy allows, disabled rules silent, `aws.*` reserved."""

from __future__ import annotations

import json
import uuid

import pytest

from localaws.events import delivery
from tests.localaws.test_ecs import ecs_env as ecs_env  # the fixture, shared

ACCOUNT, REGION = "123456789012", "us-east-1"
FAILED_TASKS = {
    "source": ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    "detail": {
        "lastStatus": ["STOPPED"],
        "$or": [{"containers": {"exitCode": [{"anything-but": 0}]}}, {"stopCode": ["TaskFailedToStart"]}],
    },
}


@pytest.fixture
def rule_to_queue(stack):
    """rule_to_queue(allow_events=True) -> (rule name, queue URL): a rule on FAILED_TASKS whose target
    is a fresh topic (its policy allowing EventBridge or not) with an SQS queue subscribed."""
    sns, sqs, events = stack.client("sns"), stack.client("sqs"), stack.client("events")

    def make(allow_events: bool = True) -> tuple[str, str]:
        tag = uuid.uuid4().hex[:8]
        topic = sns.create_topic(Name=f"failed-{tag}")["TopicArn"]
        principal = "events.amazonaws.com" if allow_events else "cloudwatch.amazonaws.com"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sns:Publish", "Resource": topic}
            ],
        }
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
        queue = sqs.create_queue(QueueName=f"failed-{tag}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        events.put_rule(Name=f"failed-{tag}", EventPattern=json.dumps(FAILED_TASKS))
        events.put_targets(Rule=f"failed-{tag}", Targets=[{"Id": "topic", "Arn": topic}])
        return f"failed-{tag}", queue

    return make


def _received(stack, queue: str) -> list[dict]:
    messages = stack.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages.get("Messages", [])]


def _task_stopped(task: str, *exit_codes: int, stop_code: str = "EssentialContainerExited") -> None:
    detail = {
        "taskArn": task,
        "lastStatus": "STOPPED",
        "stopCode": stop_code,
        "containers": [{"name": f"c{i}", "exitCode": code} for i, code in enumerate(exit_codes)],
    }
    delivery.emit(ACCOUNT, REGION, "aws.ecs", "ECS Task State Change", detail, [task])


def test_a_failed_container_matches_inside_the_containers_array(stack, rule_to_queue):
    _, queue = rule_to_queue()
    _task_stopped("ok", 0, 0)
    _task_stopped("one-failed", 0, 2)
    _task_stopped("never-started", stop_code="TaskFailedToStart")
    events = _received(stack, queue)
    assert sorted(e["detail"]["taskArn"] for e in events) == ["never-started", "one-failed"]
    event = next(e for e in events if e["detail"]["taskArn"] == "one-failed")
    assert event["source"] == "aws.ecs" and event["detail-type"] == "ECS Task State Change"
    assert event["account"] == ACCOUNT and event["resources"] == ["one-failed"] and "ingestion-time" not in event


def test_a_disabled_rule_delivers_nothing(stack, rule_to_queue):
    rule, queue = rule_to_queue()
    stack.client("events").disable_rule(Name=rule)
    _task_stopped("failed", 1)
    assert _received(stack, queue) == []


def test_the_topic_policy_must_let_eventbridge_publish(stack, rule_to_queue):
    """Allowed for CloudWatch only: nothing arrives and the rule counts a FailedInvocation."""
    rule, queue = rule_to_queue(allow_events=False)
    _task_stopped("failed", 1)
    assert _received(stack, queue) == []
    from moto.cloudwatch.models import cloudwatch_backends

    data = cloudwatch_backends[ACCOUNT][REGION].metric_data
    failed = [
        d
        for d in data
        if d.namespace == "AWS/Events" and d.name == "FailedInvocations" and d.dimensions[0].value == rule
    ]
    assert len(failed) == 1


def test_clients_may_not_send_events_with_an_aws_source(stack):
    entries = stack.client("events").put_events(
        Entries=[
            {"Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": "{}"},
            {"Source": "shop.orders", "DetailType": "Order", "Detail": "{}"},
        ]
    )["Entries"]
    assert entries[0] == {
        "ErrorCode": "NotAuthorizedForSourceException",
        "ErrorMessage": "Not authorized for the source.",
    }
    assert "EventId" in entries[1]


def test_the_local_ecs_emits_its_task_state_changes(stack, rule_to_queue, ecs_env):
    """A real task of the local ECS: its STOPPED event with the failed container reaches the rule."""
    from tests.localaws.test_ecs import register, run, wait_stopped

    _, queue = rule_to_queue()
    stack.faults.arm_job("localaws-probe", exit_code=4)
    task = run(ecs_env, register(ecs_env["ecs"]), ["exit=0"])
    wait_stopped(ecs_env, task["taskArn"])
    [event] = [e for e in _received(stack, queue) if e["detail"]["taskArn"] == task["taskArn"]]
    assert event["detail"]["clusterArn"].endswith(":cluster/ecs-test")
    assert [c["exitCode"] for c in event["detail"]["containers"]] == [4]
