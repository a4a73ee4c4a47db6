"""MLflow tracking and model registry for Airflow 3, through an Airflow connection.

The public MLflow provider does not support Airflow 3; this hook is the small part we need. The
connection (`mlflow_default`, type http) gives the tracking server: `host` with its scheme (and
`port`), optional `login`/`password` for a server behind basic auth, or `extra.tracking_uri` for
anything else (e.g. a SageMaker managed MLflow ARN with the `sagemaker-mlflow` plugin installed).

Idempotency is the hook's job: a training run is found again by its `dag_run_id` tag, a model
version by its run id (or, for a version without a run such as a hand drop, by identifying tags),
so a rerun of a DAG run never logs or registers twice.

Credentials stay with the hook: its client's REST stores carry the connection's login and password
(`MlflowHostCreds`), nothing is written to the worker's environment. MLflow's fluent API and its
artifact repositories read credentials only from the environment; `fluent_credentials()` lends
them for one block (under a lock) and restores what was there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

_ENV_LOCK = threading.Lock()
USERNAME_VAR, PASSWORD_VAR = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


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
        return host.rstrip("/")

    @cached_property
    def basic_auth(self) -> tuple[str, str] | None:
        conn = self.get_connection(self.mlflow_conn_id)
        return (conn.login, conn.password or "") if conn.login else None

    def host_creds(self):
        """What the REST stores send: the server and, when the connection has a login, basic auth."""
        from mlflow.utils.rest_utils import MlflowHostCreds

        username, password = self.basic_auth or (None, None)
        return MlflowHostCreds(self.tracking_uri, username=username, password=password)

    @cached_property
    def client(self):
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        if self.basic_auth and self.tracking_uri.startswith(("http://", "https://")):
            return _authenticated_client(self.tracking_uri, self.host_creds)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @contextmanager
    def fluent_credentials(self) -> Iterator[None]:
        """The connection's login in MLflow's environment variables for one block of fluent-API or
        artifact calls (e.g. `mlflow.pyfunc.log_model`), restored afterwards."""
        if not self.basic_auth:
            yield
            return
        with _ENV_LOCK:
            saved = {name: os.environ.get(name) for name in (USERNAME_VAR, PASSWORD_VAR)}
            os.environ[USERNAME_VAR], os.environ[PASSWORD_VAR] = self.basic_auth
            try:
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

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

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Every file of `local_dir` as artifacts of the run (the server proxies them to its store)."""
        with self.fluent_credentials():
            self.client.log_artifacts(run_id, local_dir, artifact_path)

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

    def get_version(self, model_name: str, version: str):
        return self.client.get_model_version(model_name, str(version))

    def find_version(self, model_name: str, run_id: str | None = None, **tags: str):
        """The version made from `run_id` and/or carrying all these tags, or None."""
        query = [f"name = '{_quote(model_name)}'"]
        if run_id:
            query.append(f"run_id = '{_quote(run_id)}'")
        query += [f"tags.{k} = '{_quote(v)}'" for k, v in tags.items()]
        if len(query) == 1:
            raise ValueError("find_version needs a run id or tags: a model's first version is not an identity")
        versions = self.client.search_model_versions(" and ".join(query))
        return versions[0] if versions else None

    def version_of_run(self, model_name: str, run_id: str):
        return self.find_version(model_name, run_id=run_id)

    def register(
        self,
        model_name: str,
        model_uri: str,
        *,
        tags: dict[str, str],
        description: str = "",
        run_id: str | None = None,
        identity: dict[str, str] | None = None,
    ) -> tuple[Any, bool]:
        """Register a model once; returns (version, created). A version is the same one when it comes
        from the same MLflow run or, for a model logged by no run (a hand drop), carries the same
        `identity` tags (which must be among `tags`)."""
        from mlflow.exceptions import MlflowException

        existing = self.find_version(model_name, run_id=run_id, **(identity or {}))
        if existing is not None:
            self.log.info("%s is already version %s of %s", run_id or identity, existing.version, model_name)
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

    def set_alias(self, model_name: str, alias: str, version: str) -> str | None:
        """Point `alias` at `version` unless it does already; returns the version it pointed at."""
        current = self.version_by_alias(model_name, alias)
        previous = str(current.version) if current is not None else None
        if previous != str(version):
            self.client.set_registered_model_alias(model_name, alias, str(version))
        return previous

    def delete_alias(self, model_name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(model_name, alias)

    def tag_version(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, str(version), key, str(value))


def _authenticated_client(uri: str, host_creds):
    """An MlflowClient whose tracking and registry REST stores use `host_creds` (a callable) instead
    of MLflow's process-wide credentials."""
    from mlflow import MlflowClient
    from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore
    from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore
    from mlflow.tracking._model_registry.client import ModelRegistryClient
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    class Tracking(TrackingServiceClient):
        @property
        def store(self):
            return TrackingRestStore(host_creds)

    class Registry(ModelRegistryClient):
        @property
        def store(self):
            return RegistryRestStore(host_creds)

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client._tracking_client = Tracking(uri)
    client._registry_client_lazy = Registry(uri, uri)
    return client


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
