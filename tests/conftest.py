"""Shared fixtures: an isolated Airflow home, the local AWS stack, and the platform provisioned on it.

Airflow reads its configuration when first imported, so the environment is set here, at import
time, before any test module imports it. No AWS endpoint is set globally: DAG code reaches the
local stack only through the `aws_default` connection, exactly as it reaches AWS in production.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from devstack.airflow_env import airflow_environment, aws_connection

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mlops-tests-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
UNREACHABLE = "http://127.0.0.1:9"  # until a test asks for the stack, AWS calls fail fast

os.environ.update(airflow_environment(AIRFLOW_HOME, UNREACHABLE))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database in this session's AIRFLOW_HOME."""
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=os.environ.copy(),
        check=True,
        capture_output=True,
    )
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def stack():
    """The local stack over HTTPS; every boto3 client of this process trusts its CA."""
    from localaws.server import LocalAwsStack

    with LocalAwsStack() as running:
        os.environ["AWS_CA_BUNDLE"] = os.environ["REQUESTS_CA_BUNDLE"] = running.ca_bundle
        try:
            yield running
        finally:
            os.environ.pop("AWS_CA_BUNDLE", None)
            os.environ.pop("REQUESTS_CA_BUNDLE", None)


@pytest.fixture(scope="session")
def account(stack) -> dict[str, dict[str, str]]:
    """The local account before the platform: network, and the partner's drop with two real months.
    Returns the per-stack parameters, also set as the `infra_parameters` Variable."""
    from devstack.provision import provision

    parameters = provision(stack.client, months=["2011-09", "2011-10"])
    os.environ["AIRFLOW_VAR_INFRA_PARAMETERS"] = json.dumps(parameters)
    return parameters


@pytest.fixture(scope="session")
def deployer(stack, account) -> str:
    """The Airflow deployer role (infra/deployer.yaml, deployed by provisioning as the admin):
    what the `aws_default` connection assumes."""
    from devstack.provision import deployer_role_arn

    return deployer_role_arn(stack.client)


@pytest.fixture(scope="session")
def platform(stack, account, deployer, airflow_db) -> dict[str, str]:
    """The platform's stacks deployed by the infra_bootstrap DAG and the job images pushed to their
    repositories; returns the preprocessing stack's published outputs (what most DAGs read)."""
    from airflow.dag_processing.dagbag import DagBag

    from devstack.provision import push_images

    previous = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(stack.url, stack.ca_bundle, deployer)
    try:
        dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "infra_bootstrap.py")).get_dag("infra_bootstrap")
        run = dag.test()
        states = {t.task_id: t.state for t in run.get_task_instances()}
        assert run.state == "success", f"infra_bootstrap failed: {states}"
    finally:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = previous or UNREACHABLE
    push_images(stack.client)  # the repositories exist now: what `make push-images` does after a deployment
    outputs = ssm_tree(stack, "/mlops/dev/stacks/preprocessing/")
    return {name.rsplit("/", 1)[-1]: value for name, (value, _) in outputs.items()}


def service_role(stack, name: str, service: str, statements: list[dict]) -> str:
    """A role `service` (e.g. sagemaker.amazonaws.com) may assume, with `statements` as its policy:
    what a test's job or model server runs as, now that the stack hands code its role's session."""
    iam = stack.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=name, PolicyName="job", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    return iam.get_role(RoleName=name)["Role"]["Arn"]


def ssm_tree(stack, path: str) -> dict[str, tuple[str, int]]:
    """Every parameter under `path` (all pages): name -> (value, version)."""
    pages = stack.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True)
    return {p["Name"]: (p["Value"], p["Version"]) for page in pages for p in page["Parameters"]}


@pytest.fixture
def aws_conn(stack, deployer, monkeypatch):
    """Points the `aws_default` connection at the local stack for one test, as the deployer role."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(stack.url, stack.ca_bundle, deployer))
    return stack


@pytest.fixture
def admin_conn(stack, monkeypatch):
    """Points the `aws_default` connection at the local stack as the account's administrator, for
    tests of a generic hook or operator on resources the test makes up (what the code does, not
    what the deployer role may: the DAG tests and test_permission_removal prove that)."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(stack.url, stack.ca_bundle))
    return stack


@pytest.fixture(autouse=True)
def _no_leftover_faults(request):
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").faults.clear()


def run_dag(dag):
    """`dag.test()` for a DAG built in a test: registers it in the metadata DB first, as the DAG
    processor does for files in dags/ (dag.test only syncs the DAG folder's bundle)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(AIRFLOW_HOME / "no-dags"), collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test()


@pytest.fixture(scope="session")
def mlflow_server(stack, tmp_path_factory):
    """A local MLflow tracking server, artifacts in the local S3, for the session."""
    from devstack.mlflow_server import MlflowServer, ensure_artifact_bucket

    ensure_artifact_bucket(stack.client("s3"))
    state = tmp_path_factory.mktemp("mlflow")
    with MlflowServer(state, stack.url, port=free_port(), ca_bundle=stack.ca_bundle) as server:
        yield server


@pytest.fixture
def mlflow_conn(mlflow_server, monkeypatch):
    """Points the `mlflow_default` connection at the session's MLflow server for one test."""
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": mlflow_server.url}))
    return mlflow_server


def asset_event_extras(asset_name: str, dag_run) -> list[dict]:
    """The `extra` of each event a DAG run emitted for an Asset, in order."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == asset_name, AssetEvent.source_run_id == dag_run.run_id)
            .order_by(AssetEvent.id)
            .all()
        )
        return [dict(e.extra) for e in events]


def publish_as_service(namespace: str, data: list[dict], region: str = "us-east-1") -> None:
    """Metric data published the way an AWS service publishes its own (`AWS/...` namespaces, which
    clients may not write): straight into the in-process stack's CloudWatch, evaluated as usual."""
    from datetime import UTC

    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.utils import utcnow

    from localaws.wire import DEFAULT_ACCOUNT_ID

    datums = []
    for datum in data:
        at = datum.get("Timestamp")
        at = at.astimezone(UTC).replace(tzinfo=None) if at is not None and at.tzinfo else (at or utcnow())
        datums.append({"Unit": "None", **datum, "Timestamp": at})
    cloudwatch_backends[DEFAULT_ACCOUNT_ID][region].put_metric_data(namespace, datums)
