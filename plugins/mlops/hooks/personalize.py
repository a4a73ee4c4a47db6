"""Amazon Personalize for Airflow: describe-or-create by name for every resource the lifecycle needs.

No Airflow provider supports Personalize. This hook owns the boto3 client, finds resources by name
(Personalize keys everything by ARN, so a rerun must look before it creates), retries throttling
and `LimitExceededException` with exponential backoff, and loads its own waiters
(`waiters/personalize.json`: each settles on ACTIVE or CREATE FAILED, so the operator reads the
failureReason itself and fails with it).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

RETRYABLE = ("ThrottlingException", "LimitExceededException", "TooManyRequestsException")
ACTIVE, FAILED = "ACTIVE", "CREATE FAILED"
# resource -> (list operation, list key, arn key, describe operation, describe key, parent filter)
KINDS: dict[str, tuple[str, str, str, str, str, str | None]] = {
    "dataset_group": (
        "list_dataset_groups",
        "datasetGroups",
        "datasetGroupArn",
        "describe_dataset_group",
        "datasetGroup",
        None,
    ),
    "schema": ("list_schemas", "schemas", "schemaArn", "describe_schema", "schema", None),
    "dataset": ("list_datasets", "datasets", "datasetArn", "describe_dataset", "dataset", "datasetGroupArn"),
    "dataset_import_job": (
        "list_dataset_import_jobs",
        "datasetImportJobs",
        "datasetImportJobArn",
        "describe_dataset_import_job",
        "datasetImportJob",
        "datasetArn",
    ),
    "solution": ("list_solutions", "solutions", "solutionArn", "describe_solution", "solution", "datasetGroupArn"),
    "solution_version": (
        "list_solution_versions",
        "solutionVersions",
        "solutionVersionArn",
        "describe_solution_version",
        "solutionVersion",
        "solutionArn",
    ),
    "campaign": ("list_campaigns", "campaigns", "campaignArn", "describe_campaign", "campaign", "solutionArn"),
    "event_tracker": (
        "list_event_trackers",
        "eventTrackers",
        "eventTrackerArn",
        "describe_event_tracker",
        "eventTracker",
        "datasetGroupArn",
    ),
}


class PersonalizeConflict(ValueError):
    """A resource exists under the name with settings that cannot be changed in place."""


class PersonalizeHook(AwsBaseHook):
    def __init__(self, *args, max_retries: int = 8, base_delay: float = 1.0, **kwargs) -> None:
        kwargs["client_type"] = "personalize"
        super().__init__(*args, **kwargs)
        self.max_retries = max_retries
        self.base_delay = base_delay

    @property
    def waiter_path(self) -> Path:
        return Path(__file__).parents[1] / "waiters" / "personalize.json"

    # --- calls with backoff -------------------------------------------------------------------
    def call(self, operation: str, **kwargs) -> dict[str, Any]:
        """The API call, retried with exponential backoff and jitter on throttling and limits."""
        method: Callable[..., dict] = getattr(self.conn, operation)
        for attempt in range(self.max_retries + 1):
            try:
                return method(**kwargs)
            except self.conn.exceptions.ClientError as err:
                code = err.response["Error"]["Code"]
                if code not in RETRYABLE or attempt == self.max_retries:
                    raise
                pause = self.base_delay * 2**attempt * (0.5 + random.random() / 2)  # noqa: S311 - jitter
                self.log.warning("%s: %s, retrying in %.1fs (attempt %d)", operation, code, pause, attempt + 1)
                time.sleep(pause)
        raise AssertionError("unreachable")

    # --- lookup --------------------------------------------------------------------------------
    def find(self, kind: str, name: str, parent_arn: str | None = None) -> dict[str, Any] | None:
        """The full description of the resource of this kind named `name` (under the parent), or None."""
        list_op, list_key, arn_key, _, _, parent = KINDS[kind]
        kwargs = {parent: parent_arn} if parent and parent_arn else {}
        token = None
        while True:
            page = self.call(list_op, **kwargs, **({"nextToken": token} if token else {}))
            for summary in page.get(list_key, []):
                listed = summary.get("name", summary.get("jobName"))
                if listed is None:  # solution version summaries carry no name: describe to see it
                    found = self.describe(kind, summary[arn_key])
                    if found.get("name") == name:
                        return found
                elif listed == name:
                    return self.describe(kind, summary[arn_key])
            token = page.get("nextToken")
            if not token:
                return None

    def describe(self, kind: str, arn: str) -> dict[str, Any]:
        _, _, arn_key, describe_op, describe_key, _ = KINDS[kind]
        return self.call(describe_op, **{arn_key: arn})[describe_key]

    @staticmethod
    def failure(kind: str, found: dict[str, Any]) -> str | None:
        """The failure reason when the resource (or a campaign's latest update) failed."""
        if found.get("status") == FAILED:
            return found.get("failureReason", "no reason given")
        update = found.get("latestCampaignUpdate") or {}
        if kind == "campaign" and update.get("status") == FAILED:
            return update.get("failureReason", "no reason given")
        return None

    # --- describe-or-create -----------------------------------------------------------------
    def ensure_dataset_group(self, name: str) -> tuple[dict, bool]:
        found = self.find("dataset_group", name)
        if found is not None:
            return found, False
        arn = self.call("create_dataset_group", name=name)["datasetGroupArn"]
        return self.describe("dataset_group", arn), True

    def ensure_schema(self, name: str, schema: str) -> tuple[dict, bool]:
        found = self.find("schema", name)
        if found is not None:
            if json.loads(found["schema"]) != json.loads(schema):
                raise PersonalizeConflict(f"schema {name} exists with different fields: schemas are immutable")
            return found, False
        arn = self.call("create_schema", name=name, schema=schema)["schemaArn"]
        return self.describe("schema", arn), True

    def ensure_dataset(self, name: str, group_arn: str, dataset_type: str, schema_arn: str) -> tuple[dict, str]:
        found = self.find("dataset", name, group_arn)
        if found is None:
            arn = self.call(
                "create_dataset", name=name, datasetGroupArn=group_arn, datasetType=dataset_type, schemaArn=schema_arn
            )["datasetArn"]
            return self.describe("dataset", arn), "created"
        if found["schemaArn"] != schema_arn:
            self.call("update_dataset", datasetArn=found["datasetArn"], schemaArn=schema_arn)
            return self.describe("dataset", found["datasetArn"]), "updated"
        return found, "unchanged"

    def ensure_import_job(
        self, name: str, dataset_arn: str, location: str, role_arn: str, mode: str
    ) -> tuple[dict, bool]:
        found = self.find("dataset_import_job", name, dataset_arn)
        if found is not None:
            return found, False
        arn = self.call(
            "create_dataset_import_job",
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": location},
            roleArn=role_arn,
            importMode=mode,
        )["datasetImportJobArn"]
        return self.describe("dataset_import_job", arn), True

    def ensure_solution(self, name: str, group_arn: str, recipe_arn: str, config: dict | None) -> tuple[dict, bool]:
        found = self.find("solution", name, group_arn)
        if found is not None:
            if found["recipeArn"] != recipe_arn:
                raise PersonalizeConflict(
                    f"solution {name} uses {found['recipeArn']}, not {recipe_arn}: a solution's recipe is fixed, "
                    "name a new solution"
                )
            return found, False
        kwargs = {"solutionConfig": config} if config else {}
        arn = self.call("create_solution", name=name, datasetGroupArn=group_arn, recipeArn=recipe_arn, **kwargs)[
            "solutionArn"
        ]
        return self.describe("solution", arn), True

    def ensure_solution_version(self, name: str, solution_arn: str, mode: str) -> tuple[dict, bool]:
        found = self.find("solution_version", name, solution_arn)
        if found is not None:
            return found, False
        arn = self.call("create_solution_version", name=name, solutionArn=solution_arn, trainingMode=mode)[
            "solutionVersionArn"
        ]
        return self.describe("solution_version", arn), True

    def ensure_campaign(self, name: str, version_arn: str, min_tps: int, config: dict | None) -> tuple[dict, str]:
        """Create it, update it when the version or capacity differ, or leave it: created/updated/unchanged."""
        solution_arn = version_arn.rsplit("/", 1)[0]
        found = self.find("campaign", name) or None
        if found is None:
            kwargs = {"campaignConfig": config} if config else {}
            arn = self.call(
                "create_campaign", name=name, solutionVersionArn=version_arn, minProvisionedTPS=min_tps, **kwargs
            )["campaignArn"]
            return self.describe("campaign", arn), "created"
        pending = (found.get("latestCampaignUpdate") or {}).get("status") in ("CREATE PENDING", "CREATE IN_PROGRESS")
        wanted = (found.get("latestCampaignUpdate") or found) if pending else found
        if wanted["solutionVersionArn"] == version_arn and int(wanted["minProvisionedTPS"]) == int(min_tps):
            return found, "updating" if pending else "unchanged"
        if not found["solutionVersionArn"].startswith(solution_arn + "/"):
            self.log.info("campaign %s moves from solution %s", name, found["solutionVersionArn"])
        kwargs = {"campaignConfig": config} if config else {}
        self.call(
            "update_campaign",
            campaignArn=found["campaignArn"],
            solutionVersionArn=version_arn,
            minProvisionedTPS=min_tps,
            **kwargs,
        )
        return self.describe("campaign", found["campaignArn"]), "updated"

    def ensure_event_tracker(self, name: str, group_arn: str) -> tuple[dict, bool]:
        found = self.find("event_tracker", name, group_arn)
        if found is not None:
            return found, False
        arn = self.call("create_event_tracker", name=name, datasetGroupArn=group_arn)["eventTrackerArn"]
        return self.describe("event_tracker", arn), True

    def metrics(self, version_arn: str) -> dict[str, float]:
        return {
            k: float(v) for k, v in self.call("get_solution_metrics", solutionVersionArn=version_arn)["metrics"].items()
        }
