"""Amazon Personalize operators: each describe-or-create by name, waiting in the triggerer.

A rerun reuses what exists (found by name), updates what may be updated in place (a dataset's
schema, a campaign's solution version and capacity) and refuses what may not (a solution's
recipe) with a clear error. Every wait defers to `PersonalizeSettledTrigger` on the resource's own
status field - a campaign update's `latestCampaignUpdate.status`, not the campaign's, which stays
ACTIVE - and a CREATE FAILED ends the task with the service's failureReason. Throttling and
`LimitExceededException` are retried by botocore (see `mlops.hooks.personalize`); the operators'
`region_name`, `verify` and `botocore_config` reach the hook and the trigger alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from mlops.hooks.personalize import ACTIVE, KINDS, PersonalizeFailed, PersonalizeHook
from mlops.triggers.personalize import PersonalizeSettledTrigger

__all__ = [
    "PersonalizeCreateDatasetGroupOperator",
    "PersonalizeCreateDatasetOperator",
    "PersonalizeCreateEventTrackerOperator",
    "PersonalizeCreateSchemaOperator",
    "PersonalizeCreateSolutionOperator",
    "PersonalizeDatasetImportOperator",
    "PersonalizeDeployCampaignOperator",
    "PersonalizeFailed",
    "PersonalizeSolutionMetricsOperator",
    "PersonalizeTrainSolutionVersionOperator",
]


class _PersonalizeOperator(AwsBaseOperator[PersonalizeHook]):
    """
    :param deferrable: wait in the triggerer (True) or in the worker with the same waiter
    :param waiter_delay: seconds between status checks (templated: a run's Param may set it)
    :param waiter_max_attempts: status checks before the wait fails
    """

    aws_hook_class = PersonalizeHook
    ui_color = "#fde2c4"
    kind = ""

    def __init__(
        self,
        *,
        deferrable: bool = True,
        waiter_delay: int | str = 30,
        waiter_max_attempts: int = 480,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    @property
    def arn_key(self) -> str:
        return KINDS[self.kind].arn_key

    def settle(self, found: dict[str, Any], campaign_update: bool = False) -> dict[str, Any]:
        """Return the resource once ACTIVE (deferring while it is not), fail with its reason."""
        arn = found[self.arn_key]
        status = (found.get("latestCampaignUpdate") or {}).get("status") if campaign_update else found.get("status")
        if status == ACTIVE or self.hook.failure(self.kind, found):
            return self.finish(found)
        self.log.info("Personalize %s %s is %s: waiting", self.kind, arn, status)
        if self.deferrable:
            self.defer(
                trigger=PersonalizeSettledTrigger(
                    kind=self.kind,
                    arn=arn,
                    campaign_update=campaign_update,
                    waiter_delay=int(self.waiter_delay),
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        waiter = "campaign_update_settled" if campaign_update else f"{self.kind}_settled"
        self.hook.get_waiter(waiter).wait(
            **{self.arn_key: arn},
            WaiterConfig={"Delay": int(self.waiter_delay), "MaxAttempts": self.waiter_max_attempts},
        )
        return self.finish(self.hook.describe(self.kind, arn))

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            raise PersonalizeFailed(f"waiting for Personalize {self.kind} failed: {event}")
        return self.finish(self.hook.describe(self.kind, event["arn"]))

    def finish(self, found: dict[str, Any]) -> dict[str, Any]:
        reason = self.hook.failure(self.kind, found)
        if reason:
            raise PersonalizeFailed(f"Personalize {self.kind} {found.get(self.arn_key)} failed: {reason}")
        self.log.info("Personalize %s %s is ACTIVE", self.kind, found.get(self.arn_key))
        return _jsonable(found)


def _said(action: str) -> str:
    return "exists, reused" if action == "unchanged" else action


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class PersonalizeCreateDatasetGroupOperator(_PersonalizeOperator):
    template_fields: Sequence[str] = aws_template_fields("name", "waiter_delay")
    kind = "dataset_group"

    def __init__(self, *, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_dataset_group(self.name)
        self.log.info("dataset group %s: %s", self.name, _said(action))
        return self.settle(found)


class PersonalizeCreateSchemaOperator(_PersonalizeOperator):
    """Schemas have no status: created or reused (an existing one with other fields is an error)."""

    template_fields: Sequence[str] = aws_template_fields("name", "schema", "waiter_delay")
    kind = "schema"

    def __init__(self, *, name: str, schema: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.schema = name, schema

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_schema(self.name, self.schema)
        self.log.info("schema %s: %s", self.name, _said(action))
        return _jsonable(found)


class PersonalizeCreateDatasetOperator(_PersonalizeOperator):
    template_fields: Sequence[str] = aws_template_fields(
        "name", "dataset_group_arn", "dataset_type", "schema_arn", "waiter_delay"
    )
    kind = "dataset"

    def __init__(self, *, name: str, dataset_group_arn: str, dataset_type: str, schema_arn: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.dataset_group_arn = name, dataset_group_arn
        self.dataset_type, self.schema_arn = dataset_type, schema_arn

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_dataset(self.name, self.dataset_group_arn, self.dataset_type, self.schema_arn)
        self.log.info("dataset %s: %s", self.name, action)
        return self.settle(found)


class PersonalizeDatasetImportOperator(_PersonalizeOperator):
    """
    :param job_name: unique per import (e.g. per DAG run): a rerun finds and waits on the same job
    :param import_mode: FULL (replace the dataset) or INCREMENTAL (append)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "job_name",
        "dataset_arn",
        "data_location",
        "role_arn",
        "import_mode",
        "waiter_delay",
    )
    kind = "dataset_import_job"

    def __init__(
        self, *, job_name: str, dataset_arn: str, data_location: str, role_arn: str, import_mode: str = "FULL", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.job_name, self.dataset_arn, self.data_location = job_name, dataset_arn, data_location
        self.role_arn, self.import_mode = role_arn, import_mode

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_import_job(
            self.job_name, self.dataset_arn, self.data_location, self.role_arn, self.import_mode
        )
        self.log.info("import job %s: %s", self.job_name, "started" if action == "created" else "exists, reused")
        return self.settle(found)


class PersonalizeCreateSolutionOperator(_PersonalizeOperator):
    template_fields: Sequence[str] = aws_template_fields(
        "name", "dataset_group_arn", "recipe_arn", "solution_config", "waiter_delay"
    )
    template_fields_renderers = {"solution_config": "json"}
    kind = "solution"

    def __init__(
        self, *, name: str, dataset_group_arn: str, recipe_arn: str, solution_config: dict | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.name, self.dataset_group_arn, self.recipe_arn = name, dataset_group_arn, recipe_arn
        self.solution_config = solution_config

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_solution(
            self.name, self.dataset_group_arn, self.recipe_arn, self.solution_config
        )
        self.log.info("solution %s: %s", self.name, _said(action))
        return self.settle(found)


class PersonalizeTrainSolutionVersionOperator(_PersonalizeOperator):
    """
    :param name: the version's name, unique per training (e.g. per DAG run): a rerun waits on it
    :param training_mode: FULL, or UPDATE (only where the recipe allows it; the service refuses otherwise)
    """

    template_fields: Sequence[str] = aws_template_fields("name", "solution_arn", "training_mode", "waiter_delay")
    kind = "solution_version"

    def __init__(self, *, name: str, solution_arn: str, training_mode: str = "FULL", **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.solution_arn, self.training_mode = name, solution_arn, training_mode

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_solution_version(self.name, self.solution_arn, self.training_mode)
        self.log.info(
            "solution version %s (%s): %s",
            self.name,
            self.training_mode,
            "training" if action == "created" else "exists",
        )
        return self.settle(found)


class PersonalizeSolutionMetricsOperator(_PersonalizeOperator):
    template_fields: Sequence[str] = aws_template_fields("solution_version_arn", "waiter_delay")
    kind = "solution_version"

    def __init__(self, *, solution_version_arn: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.solution_version_arn = solution_version_arn

    def execute(self, context) -> dict[str, float]:
        metrics = self.hook.metrics(self.solution_version_arn)
        self.log.info("metrics of %s: %s", self.solution_version_arn, metrics)
        return metrics


class PersonalizeDeployCampaignOperator(_PersonalizeOperator):
    """Create the campaign, or update it to the solution version and capacity when they differ."""

    template_fields: Sequence[str] = aws_template_fields(
        "name",
        "solution_version_arn",
        "min_provisioned_tps",
        "campaign_config",
        "waiter_delay",
    )
    kind = "campaign"

    def __init__(
        self,
        *,
        name: str,
        solution_version_arn: str,
        min_provisioned_tps: int = 1,
        campaign_config: dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.name, self.solution_version_arn = name, solution_version_arn
        self.min_provisioned_tps, self.campaign_config = min_provisioned_tps, campaign_config
        self.campaign_update = False

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_campaign(
            self.name, self.solution_version_arn, int(self.min_provisioned_tps), self.campaign_config
        )
        self.log.info("campaign %s: %s (version %s)", self.name, action, self.solution_version_arn)
        return self.settle(found, campaign_update=action in ("updated", "updating"))

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        found = super().execute_complete(context, event)
        if found.get("solutionVersionArn") != self.solution_version_arn:
            raise PersonalizeFailed(
                f"campaign {self.name} serves {found.get('solutionVersionArn')}, not {self.solution_version_arn}"
            )
        return found


class PersonalizeCreateEventTrackerOperator(_PersonalizeOperator):
    template_fields: Sequence[str] = aws_template_fields("name", "dataset_group_arn", "waiter_delay")
    kind = "event_tracker"

    def __init__(self, *, name: str, dataset_group_arn: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.dataset_group_arn = name, dataset_group_arn

    def execute(self, context) -> dict[str, Any]:
        found, action = self.hook.ensure_event_tracker(self.name, self.dataset_group_arn)
        self.log.info("event tracker %s: %s", self.name, _said(action))
        return self.settle(found)
