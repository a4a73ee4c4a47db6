"""Amazon Personalize on this machine: control plane with its real status progression, data imports
checked against the Avro schema, solution versions that really train, campaigns that really serve.

Every resource goes CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE (or CREATE FAILED with a
failureReason), each phase lasting at least `delay` seconds (`LOCALAWS_PERSONALIZE_DELAY_S`,
default 1), so callers must wait the way they must on AWS. A campaign update keeps the campaign
ACTIVE and progresses in `latestCampaignUpdate.status`, as on AWS. Names, ARNs, the one-dataset-
per-type rule, "in use" refusals and the UPDATE training mode's limits follow the service.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from localaws.backends import AccountBackend
from localaws.personalize import recipes
from localaws.wire import AwsError

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
DATASET_TYPES = ("Interactions", "Items", "Users", "Actions", "Action_Interactions")
REQUIRED_FIELDS = {"Interactions": ("USER_ID", "ITEM_ID", "TIMESTAMP"), "Items": ("ITEM_ID",), "Users": ("USER_ID",)}
AVRO_TYPES = {"string": str, "int": int, "long": int, "float": float, "double": float, "boolean": bool}
MIN_INTERACTIONS = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message, 400)


def not_found(kind: str, arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Could not find {kind} {arn}.", 400)


@dataclass
class Resource:
    kind: str
    arn: str
    name: str
    fields: dict[str, Any]
    status: str = "CREATE PENDING"
    failure_reason: str | None = None
    created: datetime = field(default_factory=_now)
    modified: datetime = field(default_factory=_now)

    def set(self, status: str, reason: str | None = None) -> None:
        self.status, self.failure_reason, self.modified = status, reason, _now()

    def describe(self, name_key: str = "name") -> dict[str, Any]:
        out = {
            name_key: self.name,
            **self.fields,
            "status": self.status,
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.modified,
        }
        if self.failure_reason:
            out["failureReason"] = self.failure_reason
        return out


class PersonalizeBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.delay = float(os.environ.get("LOCALAWS_PERSONALIZE_DELAY_S", "1"))
        self.resources: dict[str, Resource] = {}
        self.rows: dict[str, pd.DataFrame] = {}  # dataset arn -> bulk-imported rows
        # dataset arn -> rows from PutEvents: a FULL import replaces bulk data only, as on AWS
        self.events: dict[str, pd.DataFrame] = {}
        self.models: dict[str, recipes.TrainedModel] = {}  # solution version arn -> trained model
        self.trackers: dict[str, str] = {}  # tracking id -> event tracker arn

    # --- generic -----------------------------------------------------------------------------
    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:personalize:{self.region}:{self.account_id}:{kind}/{name}"

    def get(self, kind: str, arn: str) -> Resource:
        with self._lock:
            resource = self.resources.get(arn)
        if resource is None or resource.kind != kind:
            raise not_found(kind.replace("-", " "), arn)
        return resource

    def of_kind(self, kind: str, **match: str) -> list[Resource]:
        with self._lock:
            found = [r for r in self.resources.values() if r.kind == kind]
        return [r for r in found if all(r.fields.get(k) == v for k, v in match.items())]

    def _new(self, kind: str, name: str, arn: str, fields: dict[str, Any], status: str = "CREATE PENDING") -> Resource:
        if not name or len(name) > 63 or not NAME.match(name):
            raise invalid(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: {NAME.pattern}"
            )
        with self._lock:
            if arn in self.resources:
                raise AwsError(
                    "ResourceAlreadyExistsException", f"Another resource with Arn {arn} already exists.", 400
                )
            resource = Resource(kind, arn, name, fields, status=status)
            self.resources[arn] = resource
        return resource

    def _progress(self, resource: Resource, work: Callable[[], None] | None = None) -> None:
        """PENDING -> IN_PROGRESS -> (work) -> ACTIVE or CREATE FAILED, in the background."""

        def run() -> None:
            time.sleep(self.delay)
            resource.set("CREATE IN_PROGRESS")
            started = time.monotonic()
            try:
                if work is not None:
                    work()
            except (recipes.TrainingError, ValueError, KeyError) as err:
                resource.set("CREATE FAILED", str(err))
                return
            except Exception as err:  # the service reports, never crashes
                resource.set("CREATE FAILED", f"Internal error: {type(err).__name__}: {err}")
                return
            time.sleep(max(0.0, self.delay - (time.monotonic() - started)))
            resource.set("ACTIVE")

        threading.Thread(target=run, name=f"personalize-{resource.kind}", daemon=True).start()

    def _require_active(self, resource: Resource, what: str) -> None:
        if resource.status != "ACTIVE":
            raise AwsError(
                "ResourceInUseException", f"{what} {resource.arn} is not ACTIVE (status {resource.status}).", 400
            )

    # --- dataset groups, schemas, datasets ---------------------------------------------------
    def create_dataset_group(self, p: dict) -> Resource:
        group = self._new(
            "dataset-group",
            p["name"],
            self.arn("dataset-group", p["name"]),
            {"datasetGroupArn": self.arn("dataset-group", p["name"]), "domain": p.get("domain")},
        )
        group.fields = {k: v for k, v in group.fields.items() if v is not None}
        self._progress(group)
        return group

    def create_schema(self, p: dict) -> Resource:
        try:
            schema = json.loads(p["schema"])
            fields = schema["fields"]
            assert schema.get("type") == "record" and isinstance(fields, list) and fields
            for f in fields:
                types = f["type"] if isinstance(f["type"], list) else [f["type"]]
                assert all(t in (*AVRO_TYPES, "null") for t in types), f"field {f['name']} has type {f['type']}"
        except (ValueError, KeyError, TypeError, AssertionError) as err:
            raise invalid(f"The schema is not a valid Avro record schema: {err}") from err
        arn = self.arn("schema", p["name"])
        return self._new("schema", p["name"], arn, {"schemaArn": arn, "schema": p["schema"]}, status="ACTIVE")

    def create_dataset(self, p: dict) -> Resource:
        group = self.get("dataset-group", p["datasetGroupArn"])
        schema = self.get("schema", p["schemaArn"])
        kind = (
            p["datasetType"].capitalize()
            if p["datasetType"].lower() != "action_interactions"
            else "Action_Interactions"
        )
        if kind not in DATASET_TYPES:
            raise invalid(f"datasetType must be one of {', '.join(DATASET_TYPES)}")
        self._require_active(group, "Dataset group")
        names = [f["name"] for f in json.loads(schema.fields["schema"])["fields"]]
        missing = [f for f in REQUIRED_FIELDS.get(kind, ()) if f not in names]
        if missing:
            raise invalid(f"The schema {schema.arn} lacks the required field(s) {missing} for a {kind} dataset.")
        arn = f"arn:aws:personalize:{self.region}:{self.account_id}:dataset/{group.name}/{kind.upper()}"
        dataset = self._new(
            "dataset",
            p["name"],
            arn,
            {"datasetArn": arn, "datasetGroupArn": group.arn, "datasetType": kind, "schemaArn": schema.arn},
        )
        self._progress(dataset)
        return dataset

    # --- imports -----------------------------------------------------------------------------
    def create_dataset_import_job(self, p: dict) -> Resource:
        dataset = self.get("dataset", p["datasetArn"])
        self._require_active(dataset, "Dataset")
        busy = [j for j in self.of_kind("dataset-import-job", datasetArn=dataset.arn) if j.status.startswith("CREATE")]
        if any(j.status in ("CREATE PENDING", "CREATE IN_PROGRESS") for j in busy):
            raise AwsError("ResourceInUseException", f"An import job is already running for {dataset.arn}.", 400)
        location = p["dataSource"]["dataLocation"]
        if not location.startswith("s3://"):
            raise invalid(f"dataLocation {location!r} must be an s3:// path")
        mode = p.get("importMode", "FULL")
        arn = self.arn("dataset-import-job", p["jobName"])
        job = self._new(
            "dataset-import-job",
            p["jobName"],
            arn,
            {
                "datasetImportJobArn": arn,
                "datasetArn": dataset.arn,
                "dataSource": p["dataSource"],
                "roleArn": p.get("roleArn", ""),
                "importMode": mode,
            },
        )
        self._progress(job, lambda: self._import(dataset, location, mode))
        return job

    def _import(self, dataset: Resource, location: str, mode: str) -> None:
        schema = json.loads(self.get("schema", dataset.fields["schemaArn"]).fields["schema"])
        s3 = self.stack.client("s3", self.region)
        bucket, _, key = location[5:].partition("/")
        if key.endswith("/") or not key:
            keys = [
                o["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
                for o in page.get("Contents", [])
                if o["Key"].endswith(".csv")
            ]
        else:
            keys = [key]
        if not keys:
            raise ValueError(f"No CSV file found at {location}.")
        frames = []
        for k in keys:
            try:
                body = s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode("utf-8")
            except s3.exceptions.NoSuchKey as err:
                raise ValueError(f"Input data file s3://{bucket}/{k} does not exist or cannot be read.") from err
            except UnicodeDecodeError as err:
                raise ValueError(f"s3://{bucket}/{k} is not UTF-8 encoded: {err}") from err
            frames.append(parse_csv(body, schema, f"s3://{bucket}/{k}"))
        rows = pd.concat(frames, ignore_index=True)
        if dataset.fields["datasetType"] == "Interactions" and len(rows) < MIN_INTERACTIONS and mode == "FULL":
            raise ValueError(f"The dataset has {len(rows)} interactions; at least {MIN_INTERACTIONS} are required.")
        with self._lock:
            previous = self.rows.get(dataset.arn)
            self.rows[dataset.arn] = rows if mode == "FULL" or previous is None else pd.concat([previous, rows])

    # --- solutions and versions --------------------------------------------------------------
    def create_solution(self, p: dict) -> Resource:
        group = self.get("dataset-group", p["datasetGroupArn"])
        recipe = p.get("recipeArn") or ""
        if recipes.recipe_name(recipe) not in recipes.RECIPES:
            raise invalid(f"recipeArn {recipe!r} is not a recipe the local stack trains ({', '.join(recipes.RECIPES)})")
        arn = self.arn("solution", p["name"])
        solution = self._new(
            "solution",
            p["name"],
            arn,
            {
                "solutionArn": arn,
                "datasetGroupArn": group.arn,
                "recipeArn": recipe,
                "performHPO": bool(p.get("performHPO", False)),
                "solutionConfig": p.get("solutionConfig", {}),
            },
        )
        self._progress(solution)
        return solution

    def create_solution_version(self, p: dict) -> Resource:
        solution = self.get("solution", p["solutionArn"])
        self._require_active(solution, "Solution")
        mode = p.get("trainingMode", "FULL")
        recipe = recipes.recipe_name(solution.fields["recipeArn"])
        versions = self.of_kind("solution-version", solutionArn=solution.arn)
        if any(v.status in ("CREATE PENDING", "CREATE IN_PROGRESS") for v in versions):
            raise AwsError(
                "ResourceInUseException", f"A solution version of {solution.arn} is already being created.", 400
            )
        if mode == "UPDATE":
            if recipe not in recipes.UPDATE_MODE_RECIPES:
                raise invalid(f"trainingMode UPDATE is not supported for recipe {recipe}; use FULL.")
            if not any(v.status == "ACTIVE" and v.fields["trainingMode"] == "FULL" for v in versions):
                raise invalid(f"trainingMode UPDATE needs an ACTIVE FULL solution version of {solution.arn}.")
        group = self.get("dataset-group", solution.fields["datasetGroupArn"])
        version_id = uuid.uuid4().hex[:8]
        arn = f"{solution.arn}/{version_id}"
        version = self._new(
            "solution-version",
            p.get("name") or version_id,
            arn,
            {
                "solutionVersionArn": arn,
                "solutionArn": solution.arn,
                "recipeArn": solution.fields["recipeArn"],
                "datasetGroupArn": group.arn,
                "trainingMode": mode,
                "performHPO": solution.fields["performHPO"],
            },
        )
        interactions = f"arn:aws:personalize:{self.region}:{self.account_id}:dataset/{group.name}/INTERACTIONS"

        def fit() -> None:
            with self._lock:
                parts = [f for f in (self.rows.get(interactions), self.events.get(interactions)) if f is not None]
            frame = pd.concat(parts, ignore_index=True) if parts else None
            if frame is None:
                raise recipes.TrainingError(f"The dataset group {group.arn} has no imported interactions.")
            hp = {
                k.removeprefix("hp_"): v
                for k, v in solution.fields["solutionConfig"].get("algorithmHyperParameters", {}).items()
            }
            started = time.monotonic()
            model = recipes.train(
                solution.fields["recipeArn"], frame, {k: float(v) for k, v in hp.items() if _number(v)}
            )
            version.fields["trainingHours"] = round((time.monotonic() - started) / 3600, 6)
            with self._lock:
                self.models[arn] = model

        self._progress(version, fit)
        return version

    def solution_metrics(self, arn: str) -> dict[str, Any]:
        version = self.get("solution-version", arn)
        if version.status != "ACTIVE":
            raise AwsError(
                "ResourceInUseException", f"The solution version {arn} is not ACTIVE ({version.status}).", 400
            )
        return {"solutionVersionArn": arn, "metrics": self.models[arn].metrics}

    # --- campaigns ---------------------------------------------------------------------------
    def create_campaign(self, p: dict) -> Resource:
        version = self.get("solution-version", p["solutionVersionArn"])
        self._require_active(version, "Solution version")
        tps = int(p.get("minProvisionedTPS", 1))
        if tps < 1:
            raise invalid("minProvisionedTPS must be at least 1.")
        arn = self.arn("campaign", p["name"])
        campaign = self._new(
            "campaign",
            p["name"],
            arn,
            {
                "campaignArn": arn,
                "solutionVersionArn": version.arn,
                "minProvisionedTPS": tps,
                "campaignConfig": p.get("campaignConfig", {}),
            },
        )
        self._progress(campaign)
        return campaign

    def update_campaign(self, p: dict) -> Resource:
        campaign = self.get("campaign", p["campaignArn"])
        self._require_active(campaign, "Campaign")
        update = campaign.fields.get("latestCampaignUpdate")
        if update and update["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            raise AwsError("ResourceInUseException", f"The campaign {campaign.arn} is already being updated.", 400)
        target = p.get("solutionVersionArn") or campaign.fields["solutionVersionArn"]
        version = self.get("solution-version", target)
        self._require_active(version, "Solution version")
        tps = int(p.get("minProvisionedTPS", campaign.fields["minProvisionedTPS"]))
        update = {
            "solutionVersionArn": target,
            "minProvisionedTPS": tps,
            "status": "CREATE PENDING",
            "creationDateTime": _now(),
            "lastUpdatedDateTime": _now(),
        }
        if "campaignConfig" in p:
            update["campaignConfig"] = p["campaignConfig"]
        campaign.fields["latestCampaignUpdate"] = update

        def run() -> None:
            time.sleep(self.delay)
            update.update(status="CREATE IN_PROGRESS", lastUpdatedDateTime=_now())
            time.sleep(self.delay)
            with self._lock:
                campaign.fields.update(solutionVersionArn=target, minProvisionedTPS=tps)
                if "campaignConfig" in update:
                    campaign.fields["campaignConfig"] = update["campaignConfig"]
                update.update(status="ACTIVE", lastUpdatedDateTime=_now())
                campaign.modified = _now()

        threading.Thread(target=run, name="personalize-campaign-update", daemon=True).start()
        return campaign

    # --- deletion (AWS: DELETE PENDING, then gone; a parent refuses while children remain) ------
    def _delete(self, resource: Resource, also: list[Resource] = ()) -> None:
        """Mark `resource` DELETE PENDING and remove it (with `also`, e.g. a solution's versions)
        after the service delay: callers wait for it to be gone before deleting its parent."""
        if resource.status.startswith("DELETE"):
            return
        if resource.status in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            raise AwsError(
                "ResourceInUseException", f"{resource.arn} is {resource.status}: wait for it to settle.", 400
            )
        resource.set("DELETE PENDING")

        def run() -> None:
            time.sleep(self.delay)
            with self._lock:
                for gone in (resource, *also):
                    self.resources.pop(gone.arn, None)
                    self.models.pop(gone.arn, None)
                    self.rows.pop(gone.arn, None)
                    self.events.pop(gone.arn, None)
                    if gone.kind == "event-tracker":
                        self.trackers.pop(gone.fields.get("trackingId"), None)

        threading.Thread(target=run, name=f"personalize-delete-{resource.kind}", daemon=True).start()

    def _in_use(self, resource: Resource, children: list[Resource]) -> None:
        if children:
            raise AwsError(
                "ResourceInUseException",
                f"{resource.arn} is in use by {', '.join(sorted(c.arn for c in children))}: delete them first.",
                400,
            )

    def delete_campaign(self, p: dict) -> None:
        self._delete(self.get("campaign", p["campaignArn"]))

    def delete_solution(self, p: dict) -> None:
        """Deletes the solution and all its versions; refused while a campaign serves one of them."""
        solution = self.get("solution", p["solutionArn"])
        versions = self.of_kind("solution-version", solutionArn=solution.arn)
        served = {v.arn for v in versions}
        self._in_use(solution, [c for c in self.of_kind("campaign") if c.fields["solutionVersionArn"] in served])
        busy = [v for v in versions if v.status in ("CREATE PENDING", "CREATE IN_PROGRESS")]
        self._in_use(solution, busy)
        self._delete(solution, versions)

    def delete_event_tracker(self, p: dict) -> None:
        self._delete(self.get("event-tracker", p["eventTrackerArn"]))

    def delete_dataset(self, p: dict) -> None:
        """Refused while an import job of the dataset or a solution version of its group trains."""
        dataset = self.get("dataset", p["datasetArn"])
        running = ("CREATE PENDING", "CREATE IN_PROGRESS")
        jobs = [j for j in self.of_kind("dataset-import-job", datasetArn=dataset.arn) if j.status in running]
        group = dataset.fields["datasetGroupArn"]
        training = [v for v in self.of_kind("solution-version", datasetGroupArn=group) if v.status in running]
        self._in_use(dataset, jobs + training)
        self._delete(dataset, self.of_kind("dataset-import-job", datasetArn=dataset.arn))

    def delete_dataset_group(self, p: dict) -> None:
        """Its event trackers, solutions and datasets must be deleted first."""
        group = self.get("dataset-group", p["datasetGroupArn"])
        children = [
            r
            for kind in ("event-tracker", "solution", "dataset")
            for r in self.of_kind(kind, datasetGroupArn=group.arn)
        ]
        self._in_use(group, children)
        self._delete(group)

    def delete_schema(self, p: dict) -> None:
        """Refused while a dataset uses the schema; deleted at once, as schemas have no status."""
        schema = self.get("schema", p["schemaArn"])
        self._in_use(schema, self.of_kind("dataset", schemaArn=schema.arn))
        with self._lock:
            self.resources.pop(schema.arn, None)

    # --- event trackers and events -----------------------------------------------------------
    def create_event_tracker(self, p: dict) -> Resource:
        group = self.get("dataset-group", p["datasetGroupArn"])
        self._require_active(group, "Dataset group")
        if self.of_kind("event-tracker", datasetGroupArn=group.arn):
            raise AwsError(
                "ResourceAlreadyExistsException", f"The dataset group {group.arn} already has an event tracker.", 400
            )
        tracking_id = str(uuid.uuid4())
        arn = self.arn("event-tracker", uuid.uuid4().hex[:12])
        tracker = self._new(
            "event-tracker",
            p["name"],
            arn,
            {
                "eventTrackerArn": arn,
                "datasetGroupArn": group.arn,
                "trackingId": tracking_id,
                "accountId": self.account_id,
            },
        )
        with self._lock:
            self.trackers[tracking_id] = arn
        self._progress(tracker)
        return tracker

    def put_events(self, p: dict) -> None:
        with self._lock:
            tracker_arn = self.trackers.get(p["trackingId"])
        if tracker_arn is None:
            raise not_found("tracking id", p["trackingId"])
        tracker = self.get("event-tracker", tracker_arn)
        self._require_active(tracker, "Event tracker")
        group = self.get("dataset-group", tracker.fields["datasetGroupArn"])
        interactions = f"arn:aws:personalize:{self.region}:{self.account_id}:dataset/{group.name}/INTERACTIONS"
        rows = [
            {
                "USER_ID": p["userId"],
                "ITEM_ID": e.get("itemId"),
                "TIMESTAMP": int(e["sentAt"].timestamp()),
                "EVENT_TYPE": e["eventType"],
                "EVENT_VALUE": e.get("eventValue"),
            }
            for e in p["eventList"]
            if e.get("itemId")
        ]
        if not rows:
            return
        frame = pd.DataFrame(rows).rename(columns=str.lower)
        with self._lock:
            previous = self.events.get(interactions)
            self.events[interactions] = frame if previous is None else pd.concat([previous, frame], ignore_index=True)

    # --- runtime -----------------------------------------------------------------------------
    def serving_model(self, campaign_arn: str) -> recipes.TrainedModel:
        campaign = self.get("campaign", campaign_arn)
        if campaign.status != "ACTIVE":
            raise AwsError("ResourceNotFoundException", f"The campaign {campaign_arn} is not ACTIVE.", 404)
        return self.models[campaign.fields["solutionVersionArn"]]


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def parse_csv(body: str, schema: dict, where: str) -> pd.DataFrame:
    """Rows checked against the schema: header fields exist, required values present, types parse."""
    fields = {f["name"]: f for f in schema["fields"]}
    reader = csv.reader(io.StringIO(body))
    try:
        header = next(reader)
    except StopIteration as err:
        raise ValueError(f"{where} is empty.") from err
    unknown = [h for h in header if h not in fields]
    if unknown:
        raise ValueError(f"{where}: column(s) {unknown} are not in the schema ({list(fields)}).")
    required = [
        n for n, f in fields.items() if "null" not in (f["type"] if isinstance(f["type"], list) else [f["type"]])
    ]
    absent = [n for n in required if n not in header]
    if absent:
        raise ValueError(f"{where}: required column(s) {absent} are missing from the header {header}.")
    records = []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ValueError(f"{where} line {line}: {len(row)} fields, the header has {len(header)}.")
        record = {}
        for name, value in zip(header, row, strict=True):
            types = fields[name]["type"] if isinstance(fields[name]["type"], list) else [fields[name]["type"]]
            if value == "":
                if "null" not in types:
                    raise ValueError(f"{where} line {line}: {name} is empty but required.")
                record[name.lower()] = None
                continue
            kind = next(AVRO_TYPES[t] for t in types if t != "null")
            try:
                record[name.lower()] = kind(float(value)) if kind is int else kind(value)
            except ValueError as err:
                raise ValueError(f"{where} line {line}: {name}={value!r} is not a {kind.__name__}.") from err
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=[h.lower() for h in header])
    if "timestamp" in frame and len(frame):
        bad = frame.timestamp.lt(0) | frame.timestamp.gt(10**10)
        if bad.any():
            raise ValueError(f"{where}: TIMESTAMP must be Unix epoch seconds (line {int(bad.idxmax()) + 2}).")
    return frame
