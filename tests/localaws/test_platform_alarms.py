"""Every alarm and failed-run rule of `infra/` delivers to the alert topic, read through an SQS queue.

Alarms: each deployed alarm (all stacks, the optional self-hosted MLflow included) is fired by
driving its metric over the threshold - on a copy of the alarm with the same namespace, metric,
statistic, periods, threshold and actions, whose dimension values carry a test tag, so the real
endpoint's guardrails are not moved for the tests that follow. The copy's notification must arrive
on the alert topic: the topic and key policies must let CloudWatch publish. A test also checks that
no alarm in the templates goes untested.

Failed runs: ECS and SageMaker emit their state changes to EventBridge; the deployed rules must
publish a failed task on the jobs cluster and a failed training job of the environment - and
nothing for a successful task or another environment's job."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localaws.cloudwatch.patches.alarm_evaluation import expression_value
from tests.conftest import aws_connection, publish_as_service, service_role, ssm_tree
from tests.localaws.test_ecs import ecs_env as ecs_env  # the fixture, shared
from tests.localaws.test_ecs import register

pytestmark = pytest.mark.slow
PROJECT_ROOT = Path(__file__).resolve().parents[2]
STACKS = ("platform", "preprocessing", "serving", "personalize", "mlflow-selfhosted")
_seen: dict[str, list[dict]] = {}  # notifications read while waiting for another one


def _template_alarms() -> set[tuple[str, str]]:
    """(template file, logical id) of every AWS::CloudWatch::Alarm in infra/."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    found = set()
    for path in sorted((PROJECT_ROOT / "infra").glob("*.yaml")):
        resources = (yaml.load(path.read_text(), Loader=Loader) or {}).get("Resources") or {}  # noqa: S506
        found |= {(path.name, k) for k, v in resources.items() if v.get("Type") == "AWS::CloudWatch::Alarm"}
    return found


@pytest.fixture(scope="module")
def deployed(stack, platform, deployer) -> dict[str, dict]:
    """Alarm name -> its stack's template and logical id, with the self-hosted MLflow deployed too."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    cfn = stack.client("cloudformation")
    names = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    if "mlops-mlflow-selfhosted-dev" not in names:
        previous = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(stack.url, stack.ca_bundle, deployer)
        try:
            dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "infra_bootstrap.py")).get_dag("infra_bootstrap")
            assert dag.test(run_conf={"stacks": ["mlflow-selfhosted"]}).state == "success"
        finally:
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = previous or ""
    templates = {"mlflow-selfhosted": "mlflow-selfhosted.yaml"}
    alarms = {}
    for key in STACKS:
        resources = cfn.describe_stack_resources(StackName=f"mlops-{key}-dev")["StackResources"]
        for resource in resources:
            if resource.get("ResourceType") == "AWS::CloudWatch::Alarm":
                alarms[resource["PhysicalResourceId"]] = {
                    "template": templates.get(key, f"{key}.yaml"),
                    "logical_id": resource["LogicalResourceId"],
                }
    return alarms


@pytest.fixture(scope="module")
def alert_queue(stack, platform) -> str:
    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic = ssm_tree(stack, "/mlops/dev/stacks/serving/")["/mlops/dev/stacks/serving/AlertTopicArn"][0]
    queue = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return queue


def _wait_for(stack, queue: str, key: str, match, wait_s: float = 30.0) -> dict | None:
    """The first message on `queue` for which `match(message)` holds (others are kept by `key`)."""
    sqs, deadline = stack.client("sqs"), time.monotonic() + wait_s
    for message in _seen.get(key, []):
        if match(message):
            return message
    while time.monotonic() < deadline:
        for received in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=received["ReceiptHandle"])
            envelope = json.loads(received["Body"])
            message = json.loads(envelope["Message"]) | {"_subject": envelope.get("Subject")}
            _seen.setdefault(key, []).append(message)
            if match(message):
                return message
    return None


def test_no_alarm_of_the_templates_goes_untested(deployed):
    assert {(a["template"], a["logical_id"]) for a in deployed.values()} == _template_alarms()


def _breaching(value: float, operator: str) -> float:
    if operator.startswith("Less"):
        return value / 2 if value > 0 else value - 1
    return value * 2 + 10


def _copy(cloudwatch, alarm: dict, tag: str) -> tuple[str, list[tuple[str, list[dict], str, int]]]:
    """A copy of `alarm` on tagged dimension values; returns its name and the metrics to drive."""
    tagged = lambda dims: [{"Name": d["Name"], "Value": f"{d['Value']}-{tag}"} for d in dims]  # noqa: E731
    keys = ("AlarmDescription", "AlarmActions", "EvaluationPeriods", "DatapointsToAlarm", "Threshold")
    keys += ("ComparisonOperator", "TreatMissingData", "ActionsEnabled")
    definition = {k: alarm[k] for k in keys if k in alarm}
    name = f"{alarm['AlarmName']}-copy-{tag}"
    if alarm.get("Metrics"):
        metrics = []
        for query in alarm["Metrics"]:
            query = json.loads(json.dumps(query))
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                metric["Dimensions"] = tagged(metric.get("Dimensions", []))
            metrics.append(query)
        cloudwatch.put_metric_alarm(AlarmName=name, Metrics=metrics, **definition)
        return name, [
            (stat["Metric"]["Namespace"], stat["Metric"]["Dimensions"], q["Id"], stat["Period"])
            for q in metrics
            for stat in [q.get("MetricStat")]
            if stat
        ]
    stat = {"ExtendedStatistic": alarm["ExtendedStatistic"]} if alarm.get("ExtendedStatistic") else {}
    stat = stat or {"Statistic": alarm["Statistic"]}
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=tagged(alarm.get("Dimensions", [])),
        Period=alarm["Period"],
        **stat,
        **definition,
    )
    return name, [(alarm["Namespace"], tagged(alarm.get("Dimensions", [])), alarm["MetricName"], alarm["Period"])]


def test_every_alarm_notifies_the_alert_topic(stack, deployed, alert_queue):
    cloudwatch, failures = stack.client("cloudwatch"), []
    definitions = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=list(deployed))["MetricAlarms"]}
    assert set(definitions) == set(deployed)
    tag = uuid.uuid4().hex[:6]
    copies = {}
    for alarm in definitions.values():
        name, drive = _copy(cloudwatch, alarm, tag)
        value = _breaching(alarm["Threshold"], alarm["ComparisonOperator"])
        if alarm.get("Metrics"):  # the expression must breach with every metric at `value`
            expression = next(q["Expression"] for q in alarm["Metrics"] if q.get("ReturnData"))
            result = expression_value(expression, {q_id: value for _, _, q_id, _ in drive})
            assert result is not None and result > alarm["Threshold"], (alarm["AlarmName"], result)
        now = datetime.now(UTC)
        periods = alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"]
        for namespace, dims, metric_or_id, period in drive:
            metric_name = metric_or_id
            if alarm.get("Metrics"):
                query = next(q for q in alarm["Metrics"] if q["Id"] == metric_or_id)
                metric_name = query["MetricStat"]["Metric"]["MetricName"]
            publish_as_service(
                namespace,
                [
                    {
                        "MetricName": metric_name,
                        "Dimensions": dims,
                        "Value": value,
                        "Timestamp": now - timedelta(seconds=period * back + period / 2),
                    }
                    for back in range(periods)
                ],
            )
        copies[name] = alarm["AlarmName"]
    try:
        deadline = time.monotonic() + 90
        pending = dict(copies)
        while pending and time.monotonic() < deadline:
            _wait_for(stack, alert_queue, "alarms", lambda m: False, wait_s=1)  # collect what arrived
            for message in _seen.get("alarms", []):
                pending.pop(message.get("AlarmName"), None)
        for name, original in pending.items():
            history = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
            failures.append(f"{original}: no notification; history {[h['HistorySummary'] for h in history]}")
        for name in copies:
            message = next((m for m in _seen.get("alarms", []) if m.get("AlarmName") == name), None)
            if message is not None:
                assert message["NewStateValue"] == "ALARM" and message["_subject"].startswith(f'ALARM: "{name}"')
    finally:
        cloudwatch.delete_alarms(AlarmNames=list(copies))
    assert not failures, "\n".join(failures)


def test_a_failed_job_task_reaches_the_alert_topic_and_a_healthy_one_does_not(stack, ecs_env, alert_queue):
    ecs = stack.client("ecs")
    network = {"awsvpcConfiguration": {"subnets": [ecs_env["subnet"]], "assignPublicIp": "DISABLED"}}
    task_definition = register(ecs)

    def run(command: list[str]) -> str:
        response = ecs.run_task(
            cluster="mlops-jobs-dev",
            taskDefinition=task_definition,
            launchType="FARGATE",
            networkConfiguration=network,
            overrides={"containerOverrides": [{"name": "probe", "command": command}]},
        )
        assert response["failures"] == []
        return response["tasks"][0]["taskArn"]

    stack.faults.arm_job("localaws-probe", exit_code=3)  # the next probe to start fails
    failed = run(["exit=0"])
    message = _wait_for(stack, alert_queue, "events", lambda m: m.get("detail", {}).get("taskArn") == failed)
    assert message is not None, "no ECS Task State Change for the failed task on the alert topic"
    assert message["source"] == "aws.ecs" and message["detail-type"] == "ECS Task State Change"
    assert message["detail"]["lastStatus"] == "STOPPED"
    assert [c["exitCode"] for c in message["detail"]["containers"]] == [3]
    healthy = run(["exit=0"])
    assert _wait_for(stack, alert_queue, "events", lambda m: m.get("detail", {}).get("taskArn") == healthy, 2) is None


def test_a_failed_training_job_of_the_environment_reaches_the_alert_topic(stack, alert_queue):
    sagemaker, tag = stack.client("sagemaker"), uuid.uuid4().hex[:6]
    python39 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

    logs = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs*"
    service_role(
        stack,
        "alarms-training",
        "sagemaker.amazonaws.com",
        [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": logs}],
    )

    def failing_job(name: str) -> None:
        sagemaker.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": python39, "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::123456789012:role/alarms-training",
            OutputDataConfig={"S3OutputPath": "s3://no-such-bucket-alarms/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
            HyperParameters={"sagemaker_program": '"train.py"'},
        )

    ours, other = f"mlops-recommender-dev-alarms-{tag}", f"elsewhere-recommender-{tag}"
    failing_job(other)
    failing_job(ours)
    message = _wait_for(stack, alert_queue, "events", lambda m: m.get("detail", {}).get("TrainingJobName") == ours, 60)
    assert message is not None, "no failed-training-job event on the alert topic"
    assert message["detail-type"] == "SageMaker Training Job State Change"
    assert message["detail"]["TrainingJobStatus"] == "Failed" and message["detail"]["FailureReason"]
    assert sagemaker.describe_training_job(TrainingJobName=other)["TrainingJobStatus"] == "Failed"
    other_message = _wait_for(
        stack, alert_queue, "events", lambda m: m.get("detail", {}).get("TrainingJobName") == other, 2
    )
    assert other_message is None
