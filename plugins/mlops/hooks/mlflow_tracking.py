"""MLflow tracking and model registry for Airflow 3, through an Airflow connection.

The public MLflow provider does not support Airflow 3; this hook is the small part we need. The
connection (`mlflow_default`, type http) gives the tracking server: `host` with its scheme (and
`port`), optional `login`/`password` for a server behind basic auth, or `extra.tracking_uri` for
anything else (e.g. a SageMaker managed MLflow ARN with the `sagemaker-mlflow` plugin installed).

Idempotency is the hook's job: a training run is found again by its `dag_run_id` tag, a model
version by its run id, so a rerun of a DAG run never logs or registers twice.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook


class MlflowHook(BaseHook):
    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def tracking_uri(self) -> str:
        conn = self.get_connection(self.mlflow_conn_id)
        extra = conn.extra_dejson or {}
        if extra.get("tracking_uri"):
            return extra["tracking_uri"]
        host = conn.host or ""
        if "://" not in host:
            host = f"{conn.schema or 'http'}://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        if conn.login:
            os.environ["MLFLOW_TRACKING_USERNAME"] = conn.login
            os.environ["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
        return host.rstrip("/")

    @cached_property
    def client(self):
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    # --- tracking ----------------------------------------------------------------------------
    def experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        return self.client.create_experiment(name)

    def find_run(self, experiment_id: str, **tags: str):
        """The newest run carrying all these tags, or None."""
        query = " and ".join(f"tags.{k} = '{_quote(v)}'" for k, v in tags.items())
        runs = self.client.search_runs([experiment_id], filter_string=query, order_by=["attributes.start_time DESC"])
        return runs[0] if runs else None

    def start_or_resume_run(self, experiment_id: str, run_name: str, tags: dict[str, str], key: dict[str, str]):
        """Find the run tagged `key` (e.g. the DAG run id), else create it with `tags` and `key`."""
        existing = self.find_run(experiment_id, **key)
        if existing is not None:
            return existing, False
        return self.client.create_run(experiment_id, run_name=run_name, tags={**tags, **key}), True

    def log_to_run(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = _now_ms()
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
        )

    # --- registry ----------------------------------------------------------------------------
    def version_by_alias(self, model_name: str, alias: str):
        """The model version an alias points at, or None when the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise

    def version_of_run(self, model_name: str, run_id: str):
        versions = self.client.search_model_versions(f"name = '{_quote(model_name)}' and run_id = '{run_id}'")
        return versions[0] if versions else None

    def register(self, model_name: str, run_id: str, model_uri: str, tags: dict[str, str], description: str = ""):
        """Register the run's model once: a second call for the same run returns the same version."""
        from mlflow.exceptions import MlflowException

        existing = self.version_of_run(model_name, run_id)
        if existing is not None:
            self.log.info("Run %s is already version %s of %s", run_id, existing.version, model_name)
            return existing, False
        try:
            self.client.create_registered_model(model_name)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # MLflow 3 logs models as LoggedModels ("models:/m-..."): the version must name that model too
        model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/m-") else None
        version = self.client.create_model_version(
            model_name, model_uri, run_id=run_id, tags=tags, description=description, model_id=model_id
        )
        return version, True

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(model_name, alias, str(version))

    def tag_version(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, str(version), key, str(value))


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
