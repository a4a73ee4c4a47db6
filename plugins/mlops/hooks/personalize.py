"""Amazon Personalize for Airflow: describe-or-create by name for every resource the lifecycle needs.

No Airflow provider supports Personalize. This hook owns the boto3 client, finds resources by name
(Personalize keys everything by ARN, so a rerun must look before it creates) and loads its own
waiters (`waiters/personalize.json`: each settles on ACTIVE or CREATE FAILED, so the operator reads
the failureReason itself and fails with it).

Throttling is retried by botocore in "standard" mode (`mlops.hooks.retries`), on every call the
client makes, waiters and the triggerer's async client included. That mode counts
`LimitExceededException` as throttling, and Personalize also raises it for "too many resources or
jobs in progress": botocore backs off (jittered, at most 20 s a try) up to `max_attempts` times;
a limit that outlasts them fails the call, and the task's own `retries`/`retry_delay` are the
longer loop (a rerun finds what was already created by name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, NamedTuple

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.common.compat.sdk import AirflowException
from botocore.config import Config

from mlops.hooks.retries import RetryMode, with_retries

ACTIVE, FAILED = "ACTIVE", "CREATE FAILED"
Action = Literal["created", "updated", "unchanged", "updating"]


class Kind(NamedTuple):
    """How to list, identify and describe one kind of Personalize resource."""

    list_operation: str
    list_key: str
    arn_key: str
    describe_operation: str
    describe_key: str
    parent_filter: str | None  # the list operation's filter by parent ARN


KINDS: dict[str, Kind] = {
    "dataset_group": Kind(
        "list_dataset_groups", "datasetGroups", "datasetGroupArn", "describe_dataset_group", "datasetGroup", None
    ),
    "schema": Kind("list_schemas", "schemas", "schemaArn", "describe_schema", "schema", None),
    "dataset": Kind("list_datasets", "datasets", "datasetArn", "describe_dataset", "dataset", "datasetGroupArn"),
    "dataset_import_job": Kind(
        "list_dataset_import_jobs",
        "datasetImportJobs",
        "datasetImportJobArn",
        "describe_dataset_import_job",
        "datasetImportJob",
        "datasetArn",
    ),
    "solution": Kind("list_solutions", "solutions", "solutionArn", "describe_solution", "solution", "datasetGroupArn"),
    "solution_version": Kind(
        "list_solution_versions",
        "solutionVersions",
        "solutionVersionArn",
        "describe_solution_version",
        "solutionVersion",
        "solutionArn",
    ),
    "campaign": Kind("list_campaigns", "campaigns", "campaignArn", "describe_campaign", "campaign", "solutionArn"),
    "event_tracker": Kind(
        "list_event_trackers",
        "eventTrackers",
        "eventTrackerArn",
        "describe_event_tracker",
        "eventTracker",
        "datasetGroupArn",
    ),
}


class Ensured(NamedTuple):
    """What an `ensure_*` call left behind: the resource's description and what it did to it
    ("updating": a campaign update was already on its way to the wanted settings)."""

    resource: dict[str, Any]
    action: Action


class PersonalizeConflict(AirflowException):
    """A resource exists under the name with settings that cannot be changed in place."""


class PersonalizeFailed(AirflowException):
    """A resource (or a campaign update) ended CREATE FAILED, or the wait for it failed."""


class PersonalizeHook(AwsBaseHook):
    """
    :param max_attempts: retries per call after the first (botocore's `max_attempts`), unless `config` says
        otherwise
    :param retry_mode: botocore retry mode, unless `config` says otherwise
    """

    def __init__(self, *args, max_attempts: int = 10, retry_mode: RetryMode = "standard", **kwargs) -> None:
        kwargs["client_type"] = "personalize"
        super().__init__(*args, **kwargs)
        self.max_attempts = max_attempts
        self.retry_mode = retry_mode

    @property
    def config(self) -> Config:
        """The user's botocore configuration (hook argument or connection extra) with retries filled in."""
        return with_retries(super().config, self.retry_mode, self.max_attempts)

    @property
    def waiter_path(self) -> Path:
        return Path(__file__).parents[1] / "waiters" / "personalize.json"

    def call(self, operation: str, **kwargs) -> dict[str, Any]:
        """The API call by its boto3 name (throttling is retried by botocore)."""
        return getattr(self.conn, operation)(**kwargs)

    # --- lookup --------------------------------------------------------------------------------
    def find(self, kind: str, name: str, parent_arn: str | None = None) -> dict[str, Any] | None:
        """The full description of the resource of this kind named `name` (under the parent), or None."""
        spec = KINDS[kind]
        kwargs = {spec.parent_filter: parent_arn} if spec.parent_filter and parent_arn else {}
        token = None
        while True:
            page = self.call(spec.list_operation, **kwargs, **({"nextToken": token} if token else {}))
            for summary in page.get(spec.list_key, []):
                listed = summary.get("name", summary.get("jobName"))
                if listed is None:  # solution version summaries carry no name: describe to see it
                    found = self.describe(kind, summary[spec.arn_key])
                    if found.get("name") == name:
                        return found
                elif listed == name:
                    return self.describe(kind, summary[spec.arn_key])
            token = page.get("nextToken")
            if not token:
                return None

    def describe(self, kind: str, arn: str) -> dict[str, Any]:
        spec = KINDS[kind]
        return self.call(spec.describe_operation, **{spec.arn_key: arn})[spec.describe_key]

    @staticmethod
    def failure(kind: str, found: dict[str, Any]) -> str | None:
        """The failure reason when the resource (or a campaign's latest update) failed."""
        if found.get("status") == FAILED:
            return found.get("failureReason", "no reason given")
        update = found.get("latestCampaignUpdate") or {}
        if kind == "campaign" and update.get("status") == FAILED:
            return update.get("failureReason", "no reason given")
        return None

    def _created(self, kind: str, response: dict[str, Any]) -> Ensured:
        return Ensured(self.describe(kind, response[KINDS[kind].arn_key]), "created")

    # --- describe-or-create -----------------------------------------------------------------
    def ensure_dataset_group(self, name: str) -> Ensured:
        found = self.find("dataset_group", name)
        if found is not None:
            return Ensured(found, "unchanged")
        return self._created("dataset_group", self.call("create_dataset_group", name=name))

    def ensure_schema(self, name: str, schema: str) -> Ensured:
        found = self.find("schema", name)
        if found is not None:
            if json.loads(found["schema"]) != json.loads(schema):
                raise PersonalizeConflict(f"schema {name} exists with different fields: schemas are immutable")
            return Ensured(found, "unchanged")
        return self._created("schema", self.call("create_schema", name=name, schema=schema))

    def ensure_dataset(self, name: str, group_arn: str, dataset_type: str, schema_arn: str) -> Ensured:
        found = self.find("dataset", name, group_arn)
        if found is None:
            return self._created(
                "dataset",
                self.call(
                    "create_dataset",
                    name=name,
                    datasetGroupArn=group_arn,
                    datasetType=dataset_type,
                    schemaArn=schema_arn,
                ),
            )
        if found["schemaArn"] != schema_arn:
            self.call("update_dataset", datasetArn=found["datasetArn"], schemaArn=schema_arn)
            return Ensured(self.describe("dataset", found["datasetArn"]), "updated")
        return Ensured(found, "unchanged")

    def ensure_import_job(self, name: str, dataset_arn: str, location: str, role_arn: str, mode: str) -> Ensured:
        found = self.find("dataset_import_job", name, dataset_arn)
        if found is not None:
            return Ensured(found, "unchanged")
        return self._created(
            "dataset_import_job",
            self.call(
                "create_dataset_import_job",
                jobName=name,
                datasetArn=dataset_arn,
                dataSource={"dataLocation": location},
                roleArn=role_arn,
                importMode=mode,
            ),
        )

    def ensure_solution(self, name: str, group_arn: str, recipe_arn: str, config: dict | None) -> Ensured:
        found = self.find("solution", name, group_arn)
        if found is not None:
            if found["recipeArn"] != recipe_arn:
                raise PersonalizeConflict(
                    f"solution {name} uses {found['recipeArn']}, not {recipe_arn}: a solution's recipe is fixed, "
                    "name a new solution"
                )
            return Ensured(found, "unchanged")
        kwargs = {"solutionConfig": config} if config else {}
        return self._created(
            "solution",
            self.call("create_solution", name=name, datasetGroupArn=group_arn, recipeArn=recipe_arn, **kwargs),
        )

    def ensure_solution_version(self, name: str, solution_arn: str, mode: str) -> Ensured:
        found = self.find("solution_version", name, solution_arn)
        if found is not None:
            return Ensured(found, "unchanged")
        return self._created(
            "solution_version",
            self.call("create_solution_version", name=name, solutionArn=solution_arn, trainingMode=mode),
        )

    def ensure_campaign(self, name: str, version_arn: str, min_tps: int, config: dict | None) -> Ensured:
        """Create it, update it when the version or capacity differ, or leave it (or its pending update)."""
        kwargs = {"campaignConfig": config} if config else {}
        found = self.find("campaign", name)
        if found is None:
            return self._created(
                "campaign",
                self.call(
                    "create_campaign", name=name, solutionVersionArn=version_arn, minProvisionedTPS=min_tps, **kwargs
                ),
            )
        update = found.get("latestCampaignUpdate") or {}
        pending = update.get("status") in ("CREATE PENDING", "CREATE IN_PROGRESS")
        wanted = (update or found) if pending else found
        if wanted["solutionVersionArn"] == version_arn and int(wanted["minProvisionedTPS"]) == int(min_tps):
            return Ensured(found, "updating" if pending else "unchanged")
        if not found["solutionVersionArn"].startswith(version_arn.rsplit("/", 1)[0] + "/"):
            self.log.info("campaign %s moves from solution %s", name, found["solutionVersionArn"])
        self.call(
            "update_campaign",
            campaignArn=found["campaignArn"],
            solutionVersionArn=version_arn,
            minProvisionedTPS=min_tps,
            **kwargs,
        )
        return Ensured(self.describe("campaign", found["campaignArn"]), "updated")

    def ensure_event_tracker(self, name: str, group_arn: str) -> Ensured:
        found = self.find("event_tracker", name, group_arn)
        if found is not None:
            return Ensured(found, "unchanged")
        return self._created("event_tracker", self.call("create_event_tracker", name=name, datasetGroupArn=group_arn))

    def metrics(self, version_arn: str) -> dict[str, float]:
        metrics = self.call("get_solution_metrics", solutionVersionArn=version_arn)["metrics"]
        return {k: float(v) for k, v in metrics.items()}

    # --- teardown ------------------------------------------------------------------------------
    def list_named(self, kind: str, prefix: str) -> list[dict[str, Any]]:
        """Summaries of every resource of this kind named `prefix` or `prefix-...` (all pages)."""
        spec = KINDS[kind]
        found, token = [], None
        while True:
            page = self.call(spec.list_operation, **({"nextToken": token} if token else {}))
            for summary in page.get(spec.list_key, []):
                name = summary.get("name", summary.get("jobName")) or ""
                if name == prefix or name.startswith(prefix + "-"):
                    found.append(summary)
            token = page.get("nextToken")
            if not token:
                return found

    def delete(self, kind: str, arn: str) -> str:
        """Start deleting one resource: "deleting", "gone" (already), or "in use" (a child is still
        being deleted: try again on the next look)."""
        spec = KINDS[kind]
        operation = "delete_" + spec.describe_operation.removeprefix("describe_")
        try:
            self.call(operation, **{spec.arn_key: arn})
        except self.conn.exceptions.ResourceNotFoundException:
            return "gone"
        except self.conn.exceptions.ResourceInUseException:
            return "in use"
        return "deleting"
