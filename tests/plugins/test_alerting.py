"""A failing task's alert reaches the serving stack's SNS topic (read through an SQS subscription)."""

from __future__ import annotations

import uuid

import pendulum
import pytest

from tests.conftest import run_dag

pytestmark = pytest.mark.slow


def test_a_task_failure_is_published_with_dag_task_run_error_and_log(platform, stack, aws_conn, airflow_db):
    from airflow.sdk import DAG, task

    from mlops.alerting import failure_alert

    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic = stack.client("ssm").get_parameter(Name="/mlops/dev/stacks/serving/AlertTopicArn")["Parameter"]["Value"]
    queue = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    dag_id = f"alert_{uuid.uuid4().hex[:6]}"
    with DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        default_args={"retries": 0, "on_failure_callback": failure_alert()},
    ) as dag:

        @task
        def breaks():
            raise ValueError("month 2011-13 does not exist")

        breaks()

    run = run_dag(dag)
    assert run.state == "failed"
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
    # The topic also carries CloudWatch alarm notifications (the local stack delivers alarm actions):
    # this failure's alert is the one naming a DAG, and it arrives once.
    messages = [m for m in received if "DAG:" in m["Body"]]
    assert len(messages) == 1, received
    body = messages[0]["Body"]
    assert f"DAG:      {dag_id}" in body and "Task:     breaks" in body
    assert f"Run:      {run.run_id}" in body
    assert "month 2011-13 does not exist" in body
    assert "Log:      http" in body and dag_id in body.split("Log:")[1]


def test_every_dag_alerts_on_failure(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from mlops.alerting import StackAlertNotifier
    from tests.dags.test_dag_integrity import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    for dag_id, dag in bag.dags.items():
        for t in dag.tasks:
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert any(isinstance(c, StackAlertNotifier) for c in callbacks), f"{dag_id}.{t.task_id} sends no alert"
