"""The environment that points unchanged DAGs at the local stack and the local MLflow.

Only the connection's `endpoint_url` (and the test credentials moto accepts) differ from a real
deployment: the same `AIRFLOW_CONN_*` / `AIRFLOW_VAR_*` names carry an account's settings there.
As on a real deployment, Airflow acts as the deployer role of `infra/deployer.yaml` (the
connection's `role_arn`, assumed through STS by AwsBaseHook); login/password are only the base
credentials that may assume it. The stack speaks HTTPS with its own CA: the connection's `verify`
extra, and `AWS_CA_BUNDLE` for the clients the provider builds without it (the STS client that
assumes the role).
"""

from __future__ import annotations

import json
from pathlib import Path

from devstack import PROJECT_ROOT
from devstack.provision import DROP_PREFIX

REGION = "us-east-1"


def aws_connection(endpoint_url: str, ca_bundle: str | None = None, role_arn: str | None = None) -> str:
    extra: dict = {"region_name": REGION, "endpoint_url": endpoint_url}
    if ca_bundle:
        extra["verify"] = ca_bundle
    if role_arn:
        extra["role_arn"] = role_arn
        # the provider's AssumeRole client ignores the global endpoint_url: STS's own entry
        extra["service_config"] = {"sts": {"endpoint_url": endpoint_url}}
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})


def airflow_environment(
    airflow_home: Path,
    aws_url: str,
    mlflow_url: str | None = None,
    infra_parameters: dict[str, dict[str, str]] | None = None,
    ca_bundle: str | None = None,
    deployer_role_arn: str | None = None,
    environment: str = "dev",
) -> dict[str, str]:
    """`environment`: which deployment this Airflow serves (the Variable mlops.deployment reads);
    `deployer_role_arn` should be that environment's (devstack.provision.deployer_role_arn)."""
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(aws_url, ca_bundle, deployer_role_arn),
        "AIRFLOW_VAR_RAW_DROP_PREFIX": DROP_PREFIX,
        "AIRFLOW_VAR_MLOPS_ENVIRONMENT": environment,
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}",
    }
    if ca_bundle:
        env["AWS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"] = ca_bundle
    if infra_parameters is not None:
        env["AIRFLOW_VAR_INFRA_PARAMETERS"] = json.dumps(infra_parameters)
    if mlflow_url:
        env["AIRFLOW_CONN_MLFLOW_DEFAULT"] = json.dumps({"conn_type": "http", "host": mlflow_url})
        env["MLFLOW_TRACKING_URI"] = mlflow_url
    return env
