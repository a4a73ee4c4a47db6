"""The custom AWS operators on the provider's base, without the local stack: the operator's region,
SSL and botocore settings reach the hook (built once) and the trigger; the Personalize hook's
types, exceptions and botocore retries; the ECS job's log lines on failure."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException
from airflow.sdk.exceptions import TaskDeferred
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops.hooks.ab_tests import AbMetricsHook, AbTestLedgerHook
from mlops.hooks.feature_store import FeatureStoreHook
from mlops.hooks.personalize import KINDS, Ensured, Kind, PersonalizeConflict, PersonalizeFailed, PersonalizeHook
from mlops.hooks.retries import with_retries
from mlops.hooks.sagemaker_endpoint import EndpointConflict, EndpointNotFound, EndpointRolloutFailed
from mlops.operators import personalize as ops
from mlops.operators.ecs import EcsJobOperator
from mlops.operators.sagemaker_endpoint import SageMakerDeployEndpointOperator, SageMakerEndpointWeightsOperator
from mlops.sensors.ab_test import AbTestSensor
from mlops.triggers.personalize import PersonalizeSettledTrigger

AWS = {"region_name": "eu-west-1", "verify": "/etc/ssl/ca.pem", "botocore_config": {"connect_timeout": 7}}


def _hook_settings(hook) -> tuple:
    return hook.region_name, hook.verify, hook.config.connect_timeout


@pytest.fixture
def no_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws"}))


# --- Personalize ------------------------------------------------------------------------------------
def test_personalize_operator_settings_reach_its_hook_once_and_its_trigger(no_connection, monkeypatch):
    built = []

    class Counted(PersonalizeHook):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ops.PersonalizeCreateDatasetOperator, "aws_hook_class", Counted)
    operator = ops.PersonalizeCreateDatasetOperator(
        task_id="dataset", name="d", dataset_group_arn="g", dataset_type="Interactions", schema_arn="s", **AWS
    )
    assert {"aws_conn_id", "region_name", "verify", "name", "waiter_delay"} <= set(operator.template_fields)
    assert operator.hook is operator.hook and len(built) == 1
    assert _hook_settings(operator.hook) == ("eu-west-1", "/etc/ssl/ca.pem", 7)
    assert operator.hook.config.retries == {"mode": "standard", "max_attempts": 10}

    pending = {"datasetArn": "arn:aws:personalize:eu-west-1:1:dataset/g/INTERACTIONS", "status": "CREATE PENDING"}
    with pytest.raises(TaskDeferred) as deferred:
        operator.settle(pending)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PersonalizeSettledTrigger)
    _, kwargs = trigger.serialize()
    assert {k: kwargs[k] for k in AWS} == AWS
    rebuilt = PersonalizeSettledTrigger(**kwargs)  # as the triggerer does
    assert _hook_settings(rebuilt.hook()) == ("eu-west-1", "/etc/ssl/ca.pem", 7)
    assert rebuilt.hook().config.retries["mode"] == "standard"
    assert len(built) == 1


def test_existing_personalize_arguments_still_work(no_connection):
    operator = ops.PersonalizeDeployCampaignOperator(
        task_id="campaign",
        name="c",
        solution_version_arn="v",
        aws_conn_id="other",
        deferrable=False,
        waiter_delay="{{ params.check }}",
        waiter_max_attempts=3,
    )
    assert (operator.aws_conn_id, operator.deferrable, operator.waiter_max_attempts) == ("other", False, 3)
    assert operator.region_name is None and operator.botocore_config is None


def test_personalize_kinds_results_and_failures_are_typed():
    assert Kind._fields == (
        "list_operation",
        "list_key",
        "arn_key",
        "describe_operation",
        "describe_key",
        "parent_filter",
    )
    assert all(isinstance(kind, Kind) for kind in KINDS.values())
    assert KINDS["campaign"].arn_key == "campaignArn" and KINDS["dataset_group"].parent_filter is None
    resource, action = Ensured({"name": "x"}, "created")
    assert (resource, action) == ({"name": "x"}, "created")
    for failure in (PersonalizeConflict, PersonalizeFailed, EndpointConflict, EndpointNotFound, EndpointRolloutFailed):
        assert issubclass(failure, AirflowException)
    assert ops.PersonalizeFailed is PersonalizeFailed


def test_a_failed_resource_fails_the_task_with_its_reason(no_connection):
    operator = ops.PersonalizeDatasetImportOperator(
        task_id="import", job_name="j", dataset_arn="d", data_location="s3://b/k", role_arn="r"
    )
    failed = {"datasetImportJobArn": "arn:job", "status": "CREATE FAILED", "failureReason": "too few rows"}
    with pytest.raises(PersonalizeFailed, match="arn:job failed: too few rows"):
        operator.settle(failed)
    with pytest.raises(PersonalizeFailed, match="waiting for Personalize dataset_import_job failed"):
        operator.execute_complete({}, {"status": "error", "message": "timed out"})


def test_ensure_methods_return_one_result_type(no_connection, monkeypatch):
    hook = PersonalizeHook()
    existing = {"name": "s", "schemaArn": "arn:s", "schema": '{"a": 1}', "recipeArn": "arn:r1"}
    monkeypatch.setattr(hook, "find", lambda kind, name, parent=None: existing if name == "s" else None)
    monkeypatch.setattr(hook, "call", lambda operation, **kwargs: {KINDS[operation[7:]].arn_key: "arn:new"})
    monkeypatch.setattr(hook, "describe", lambda kind, arn: {"arn": arn, "kind": kind})
    assert hook.ensure_schema("s", '{"a": 1}') == Ensured(existing, "unchanged")
    assert hook.ensure_schema("t", '{"a": 1}') == Ensured({"arn": "arn:new", "kind": "schema"}, "created")
    assert hook.ensure_dataset_group("g") == Ensured({"arn": "arn:new", "kind": "dataset_group"}, "created")
    with pytest.raises(PersonalizeConflict, match="schemas are immutable"):
        hook.ensure_schema("s", '{"a": 2}')
    with pytest.raises(PersonalizeConflict, match="recipe is fixed"):
        hook.ensure_solution("s", "arn:g", "arn:r2", None)


# --- retries ------------------------------------------------------------------------------------------
def test_retry_settings_fill_in_under_the_users_config():
    assert with_retries(None).retries == {"mode": "standard", "max_attempts": 10}
    mine = Config(connect_timeout=3, retries={"max_attempts": 2})
    merged = with_retries(mine, "adaptive")
    assert merged.retries == {"mode": "adaptive", "max_attempts": 2} and merged.connect_timeout == 3
    assert with_retries(Config(retries={"mode": "legacy"})).retries["mode"] == "legacy"
    assert with_retries(Config(retries={"total_max_attempts": 4})).retries == {
        "mode": "standard",
        "total_max_attempts": 4,
    }


def test_the_connections_botocore_config_keeps_its_keys(monkeypatch):
    extra = {"config_kwargs": {"read_timeout": 11, "retries": {"max_attempts": 4}}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": extra}))
    assert PersonalizeHook().config.read_timeout == 11
    assert PersonalizeHook().conn.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert FeatureStoreHook().conn.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}


class _Personalize(BaseHTTPRequestHandler):
    """Answers ListDatasetGroups, after `failures` LimitExceededException answers."""

    failures = 0
    requests = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests += 1
        if type(self).requests <= type(self).failures:
            status, body = 400, {"__type": "LimitExceededException", "message": "too many jobs in progress"}
        else:
            status, body = 200, {"datasetGroups": []}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def personalize_endpoint(monkeypatch):
    _Personalize.requests, _Personalize.failures = 0, 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Personalize)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "login": "k", "password": "s", "extra": {"endpoint_url": url}}),
    )
    yield _Personalize
    server.shutdown()
    server.server_close()


def test_limit_exceeded_is_retried_by_botocore(personalize_endpoint):
    assert PersonalizeHook(region_name="us-east-1").find("dataset_group", "g") is None
    assert personalize_endpoint.requests == 3


def test_retries_stop_at_the_users_max_attempts(personalize_endpoint):
    """No retry loop of the hook's own on top of botocore's: one attempt allowed, one request made."""
    hook = PersonalizeHook(region_name="us-east-1", config={"retries": {"total_max_attempts": 1}})
    with pytest.raises(ClientError, match="LimitExceededException"):
        hook.find("dataset_group", "g")
    assert personalize_endpoint.requests == 1


# --- SageMaker endpoint -------------------------------------------------------------------------------
def test_endpoint_operator_settings_reach_its_hook_and_the_trigger(no_connection):
    operator = SageMakerEndpointWeightsOperator(
        task_id="weights",
        endpoint_name="ep",
        weights={"champion": 1.0},
        check_interval=15,
        max_wait=timedelta(minutes=5),
        **AWS,
    )
    assert {"aws_conn_id", "region_name", "verify", "endpoint_name", "weights"} <= set(operator.template_fields)
    assert operator.hook is operator.hook
    assert _hook_settings(operator.hook) == ("eu-west-1", "/etc/ssl/ca.pem", 7)
    with pytest.raises(TaskDeferred) as deferred:
        operator._wait()
    trigger = deferred.value.trigger
    assert (trigger.region_name, trigger.verify, trigger.botocore_config) == (
        "eu-west-1",
        "/etc/ssl/ca.pem",
        {"connect_timeout": 7},
    )
    assert (trigger.waiter_delay, trigger.attempts) == (15, 20)
    assert _hook_settings(trigger.hook()) == ("eu-west-1", "/etc/ssl/ca.pem", 7)


def test_a_rolled_back_endpoint_fails_with_an_airflow_exception(no_connection):
    operator = SageMakerDeployEndpointOperator(
        task_id="deploy", endpoint_name="ep", endpoint_config_name="new", models=[], variants=[]
    )
    with pytest.raises(EndpointRolloutFailed, match="the update was rolled back"):
        operator.confirm({"EndpointConfigName": "old", "EndpointStatus": "InService"})


# --- A/B sensor --------------------------------------------------------------------------------------
def test_ab_sensor_builds_both_hooks_from_its_settings(no_connection):
    sensor = AbTestSensor(
        task_id="watch",
        endpoint_name="ep",
        test_id="t",
        table_name="ledger",
        conversion_namespace="ns",
        challenger_alarms=[],
        settings={},
        **AWS,
    )
    assert {"aws_conn_id", "region_name", "table_name"} <= set(sensor.template_fields)
    assert isinstance(sensor.hook, AbTestLedgerHook) and sensor.hook is sensor.hook
    assert sensor.hook.table_name == "ledger"
    assert isinstance(sensor.metrics_hook, AbMetricsHook)
    assert _hook_settings(sensor.hook) == _hook_settings(sensor.metrics_hook) == ("eu-west-1", "/etc/ssl/ca.pem", 7)
    assert sensor.mode == "reschedule"


# --- ECS ---------------------------------------------------------------------------------------------
def _job(**kwargs) -> EcsJobOperator:
    settings = {
        "task_id": "job",
        "cluster": "c",
        "task_definition": "td",
        "overrides": {},
        "awslogs_group": "/ecs/jobs",
        "awslogs_stream_prefix": "ingest",
        "container_name": "ingest",
    }
    return EcsJobOperator(**{**settings, **kwargs})


def test_the_log_stream_is_named_as_the_awslogs_driver_names_it():
    job = _job()
    job.arn = "arn:aws:ecs:us-east-1:1:task/c/abc123"
    assert job.log_stream_name() == "ingest/ingest/abc123"
    assert _job(awslogs_stream_prefix="jobs/ingest").log_stream_name() == "jobs/ingest/"
    assert _job(container_name=None).log_stream_name() == "ingest/"


@pytest.mark.parametrize("failure", [AirflowException, AirflowSkipException])
def test_a_failed_job_raises_with_its_last_log_lines(monkeypatch, failure):
    def provider_resume(self, context, event=None):
        self.arn = event["task_arn"]
        raise failure("This task is not in success state")

    monkeypatch.setattr(EcsRunTaskOperator, "execute_complete", provider_resume)
    job = _job()
    monkeypatch.setattr(job, "last_log_lines", lambda count: ["reading s3://drop/bad.csv", "ValueError: bad header"])
    with pytest.raises(failure) as raised:
        job.execute_complete({}, {"status": "success", "task_arn": "arn:aws:ecs:us-east-1:1:task/c/t1"})
    message = str(raised.value)
    assert "not in success state" in message and "ValueError: bad header" in message
    assert "/ecs/jobs/ingest/ingest/t1" in message


def test_a_failed_wait_without_a_task_is_left_as_is(monkeypatch):
    def provider_resume(self, context, event=None):
        raise AirflowException(f"Error in task execution: {event}")

    monkeypatch.setattr(EcsRunTaskOperator, "execute_complete", provider_resume)
    with pytest.raises(AirflowException, match=r"^Error in task execution"):
        _job().execute_complete({}, {"status": "error"})
