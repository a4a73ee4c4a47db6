"""Managed MLflow tracking servers with SageMaker's validation, kept beside moto's SageMaker
backend. This records the server's control plane; the tracking API itself is served locally by
the self-hosted MLflow server the demo starts (`devstack`), not by this record.

Checked, from the API model and reference: `TrackingServerName` (pattern, 1-256, unique in the
account and region), `ArtifactStoreUri` an `s3://` URI (the model allows `(https|s3)://`, the
CloudFormation schema `s3://` only; "a general purpose Amazon S3 bucket") of a bucket that exists
in this account (`S3BucketOwnerVerification` defaults to true), `RoleArn` an existing role that
trusts `sagemaker.amazonaws.com`, `TrackingServerSize` Small/Medium/Large (default Small),
`MlflowVersion` and `WeeklyMaintenanceWindowStart` patterns. A server is `Creating` (`Updating`)
for `LOCALAWS_SAGEMAKER_MLFLOW_DELAY_S` seconds (default 1) and then `Created` (`Updated`); an
update while it is changing is a `ConflictException`; CloudFormation creates it ready.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.models import sagemaker_backends

from localaws.sagemaker import references as refs
from localaws.wire import AwsError

NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}"
SIZES = ("Small", "Medium", "Large")
# Without MlflowVersion, the version reported is the one of the MLflow that serves tracking here
# (the project's pinned mlflow); AWS picks its current default, which the API does not document.
DEFAULT_MLFLOW_VERSION = importlib.metadata.version("mlflow")
WINDOW = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)"


def _delay() -> float:
    return float(os.environ.get("LOCALAWS_SAGEMAKER_MLFLOW_DELAY_S", "1"))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TrackingServer:
    name: str
    arn: str
    request: dict[str, Any]
    url: str
    changing: str = "Creating"
    done: str = "Created"
    ready_at: float = 0.0
    created: datetime = field(default_factory=_now)
    modified: datetime = field(default_factory=_now)

    @property
    def status(self) -> str:
        return self.changing if time.monotonic() < self.ready_at else self.done

    def start(self, changing: str, done: str, ready: bool) -> None:
        self.changing, self.done = changing, done
        self.ready_at = 0.0 if ready else time.monotonic() + _delay()
        self.modified = _now()

    def describe(self) -> dict[str, Any]:
        r = self.request
        out = {
            "TrackingServerArn": self.arn,
            "TrackingServerName": self.name,
            "ArtifactStoreUri": r["ArtifactStoreUri"],
            "TrackingServerSize": r.get("TrackingServerSize", "Small"),
            "MlflowVersion": r.get("MlflowVersion", DEFAULT_MLFLOW_VERSION),
            "RoleArn": r["RoleArn"],
            "TrackingServerStatus": self.status,
            "IsActive": "Active",
            "TrackingServerUrl": self.url,
            "AutomaticModelRegistration": bool(r.get("AutomaticModelRegistration", False)),
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "S3BucketOwnerVerification": bool(r.get("S3BucketOwnerVerification", True)),
        }
        if r.get("WeeklyMaintenanceWindowStart"):
            out["WeeklyMaintenanceWindowStart"] = r["WeeklyMaintenanceWindowStart"]
        if r.get("S3BucketOwnerAccountId"):
            out["S3BucketOwnerAccountId"] = r["S3BucketOwnerAccountId"]
        return out

    def summary(self) -> dict[str, Any]:
        d = self.describe()
        keys = (
            "TrackingServerArn",
            "TrackingServerName",
            "CreationTime",
            "LastModifiedTime",
            "TrackingServerStatus",
            "IsActive",
            "MlflowVersion",
        )
        return {k: d[k] for k in keys}


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


class MlflowServers:
    """The tracking servers of one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.servers: dict[str, TrackingServer] = {}
        self._lock = threading.RLock()

    def _check(self, r: dict[str, Any]) -> None:
        if r.get("ArtifactStoreUri") is not None:
            refs.bucket_of(self.account_id, self.region, r["ArtifactStoreUri"], "ArtifactStoreUri")
        if r.get("RoleArn") is not None:
            refs.role(self.account_id, r["RoleArn"], "RoleArn")
        if r.get("TrackingServerSize") is not None:
            refs.one_of(r["TrackingServerSize"], SIZES, "trackingServerSize")
        if r.get("MlflowVersion") is not None:
            refs.matches(r["MlflowVersion"], r"[0-9]*.[0-9]*.[0-9]*", "mlflowVersion", 16)
        if r.get("WeeklyMaintenanceWindowStart") is not None:
            refs.matches(r["WeeklyMaintenanceWindowStart"], WINDOW, "weeklyMaintenanceWindowStart", 9)
        for flag in ("AutomaticModelRegistration", "S3BucketOwnerVerification"):
            if r.get(flag) is not None:
                r[flag] = _boolean(r[flag])

    def create(self, r: dict[str, Any], ready: bool = False) -> TrackingServer:
        r = copy.deepcopy(r)
        for required in ("TrackingServerName", "ArtifactStoreUri", "RoleArn"):
            if r.get(required) is None:
                raise refs.missing(required)
        name = refs.matches(r["TrackingServerName"], NAME, "trackingServerName", 256)
        self._check(r)
        with self._lock:
            if name in self.servers:
                raise refs.invalid(f"Tracking server with name {name} already exists.")
            digest = hashlib.sha256(f"{self.account_id}/{self.region}/{name}/{time.time_ns()}".encode()).hexdigest()
            server = TrackingServer(
                name=name,
                arn=f"arn:aws:sagemaker:{self.region}:{self.account_id}:mlflow-tracking-server/{name}",
                request=r,
                url=f"https://t-{digest[:12]}.{self.region}.experiments.sagemaker.aws",
            )
            server.start("Creating", "Created", ready)
            self.servers[name] = server
            return server

    def get(self, name: Any) -> TrackingServer:
        refs.matches(name, NAME, "trackingServerName", 256)
        with self._lock:
            found = self.servers.get(name)
        if found is None:
            raise AwsError("ResourceNotFound", f"Tracking server {name} does not exist.", 400)
        return found

    def update(self, r: dict[str, Any], ready: bool = False) -> TrackingServer:
        server = self.get(r.get("TrackingServerName"))
        if server.status not in ("Created", "Updated", "Started", "MaintenanceComplete"):
            raise AwsError(
                "ConflictException", f"Tracking server {server.name} is {server.status}: it cannot be updated now.", 400
            )
        changes = {k: v for k, v in r.items() if k != "TrackingServerName" and v is not None}
        self._check(changes)
        with self._lock:
            server.request.update(changes)
            server.start("Updating", "Updated", ready)
        return server

    def delete(self, name: Any) -> TrackingServer:
        server = self.get(name)
        if server.status in ("Creating", "Updating"):
            raise AwsError(
                "ConflictException", f"Tracking server {server.name} is {server.status}: it cannot be deleted now.", 400
            )
        with self._lock:
            del self.servers[server.name]
        return server


def mlflow_servers(account_id: str, region: str) -> MlflowServers:
    backend = sagemaker_backends[account_id][region]
    state = getattr(backend, "localaws_mlflow", None)
    if state is None:
        state = backend.localaws_mlflow = MlflowServers(account_id, region)
    return state
