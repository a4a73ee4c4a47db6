"""The MLflow hook and registry operators against a local MLflow server, in small DAGs."""

from __future__ import annotations

import uuid

import pendulum
import pytest

from tests.conftest import run_dag

pytestmark = pytest.mark.slow


def registered(mlflow_server, name: str, versions: int) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    client.create_registered_model(name)
    experiment = client.create_experiment(f"exp-{name}")
    for _ in range(versions):
        run = client.create_run(experiment)
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)


def test_set_and_delete_alias_are_idempotent(airflow_db, mlflow_conn):
    from airflow.sdk import DAG

    from mlops.hooks.mlflow_tracking import MlflowHook
    from mlops.operators.mlflow_registry import MlflowDeleteAliasOperator, MlflowSetAliasOperator

    name = f"model-{uuid.uuid4().hex[:6]}"
    registered(mlflow_conn, name, versions=2)
    with DAG(f"alias_{name.replace('-', '_')}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        first = MlflowSetAliasOperator(task_id="first", model_name=name, alias="champion", version="1")
        again = MlflowSetAliasOperator(task_id="again", model_name=name, alias="champion", version="1")
        move = MlflowSetAliasOperator(
            task_id="move", model_name=name, alias="champion", version="2", reason="won the A/B test"
        )
        drop = MlflowDeleteAliasOperator(task_id="drop", model_name=name, alias="challenger")
        first >> again >> move >> drop
    dag_run = run_dag(dag)
    assert dag_run.state == "success"
    hook = MlflowHook()
    assert hook.version_by_alias(name, "champion").version == "2"
    assert hook.client.get_model_version(name, "2").tags["champion_reason"] == "won the A/B test"
    assert hook.version_by_alias(name, "challenger") is None
    assert hook.version_by_alias("no-such-model", "champion") is None
    assert hook.version_of_run(name, "no-such-run") is None


def test_register_is_idempotent_by_run_and_by_identity(airflow_db, mlflow_conn):
    """Training registers by its MLflow run, a hand drop (no run) by its S3 URI: a rerun of either
    finds the version it made and registers nothing twice."""
    from mlops.hooks.mlflow_tracking import MlflowHook

    hook = MlflowHook()
    name = f"model-{uuid.uuid4().hex[:6]}"
    uri = f"s3://bucket/models/{name}/hand-1/model.tar.gz"
    dropped = [
        hook.register(name, uri, identity={"serving_artifact": uri}, tags={"serving_artifact": uri, "source": "x"})
        for _ in range(2)
    ]
    assert [created for _, created in dropped] == [True, False]
    assert dropped[0][0].version == dropped[1][0].version == "1"

    run = hook.client.create_run(hook.experiment_id(f"exp-{name}"))
    trained = [
        hook.register(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={"k": "v"}) for _ in range(2)
    ]
    assert [created for _, created in trained] == [True, False]
    assert trained[0][0].version == trained[1][0].version == "2"
    assert len(hook.client.search_model_versions(f"name = '{name}'")) == 2
