"""MLflow model registry operators for Airflow 3 (the public MLflow provider does not support it).

`MlflowSetAliasOperator` points an alias (`champion`, `challenger`) at a model version and records
the move on the version; `MlflowDeleteAliasOperator` removes one. Both are idempotent: setting an
alias where it already points, or deleting one that is gone, succeeds without a change.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator

from mlops.hooks.mlflow_tracking import MlflowHook


class MlflowSetAliasOperator(BaseOperator):
    """
    :param model_name: registered model
    :param alias: alias to set
    :param version: model version the alias must point at
    :param reason: stored on the version as tag `<alias>_reason`
    """

    template_fields: Sequence[str] = ("model_name", "alias", "version", "reason")
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        model_name: str,
        alias: str,
        version: str,
        reason: str = "",
        mlflow_conn_id: str = "mlflow_default",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name, self.alias, self.version, self.reason = model_name, alias, str(version), reason
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context) -> dict:
        hook = MlflowHook(self.mlflow_conn_id)
        current = hook.version_by_alias(self.model_name, self.alias)
        previous = current.version if current is not None else None
        if previous == self.version:
            self.log.info("%s@%s already points at version %s", self.model_name, self.alias, self.version)
        else:
            hook.set_alias(self.model_name, self.alias, self.version)
            self.log.info("%s@%s: version %s -> %s", self.model_name, self.alias, previous, self.version)
        if self.reason:
            hook.tag_version(self.model_name, self.version, {f"{self.alias}_reason": self.reason})
        return {"model_name": self.model_name, "alias": self.alias, "version": self.version, "previous": previous}


class MlflowDeleteAliasOperator(BaseOperator):
    template_fields: Sequence[str] = ("model_name", "alias")
    ui_color = "#d9ecf2"

    def __init__(self, *, model_name: str, alias: str, mlflow_conn_id: str = "mlflow_default", **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_name, self.alias, self.mlflow_conn_id = model_name, alias, mlflow_conn_id

    def execute(self, context) -> str | None:
        hook = MlflowHook(self.mlflow_conn_id)
        current = hook.version_by_alias(self.model_name, self.alias)
        if current is None:
            self.log.info("%s@%s does not exist: nothing to delete", self.model_name, self.alias)
            return None
        hook.delete_alias(self.model_name, self.alias)
        self.log.info("%s@%s (version %s) deleted", self.model_name, self.alias, current.version)
        return current.version
