"""SageMaker's MLflow tracking server operations, served from `models.MlflowServers`."""

from __future__ import annotations

from typing import Any

from localaws.sagemaker.mlflow.models import mlflow_servers
from localaws.wire import ApiCall, Operations

operations = Operations()
SERVICE = "sagemaker"


def _servers(call: ApiCall):
    return mlflow_servers(call.account_id, call.region)


@operations.handles(SERVICE, "CreateMlflowTrackingServer")
def create(call: ApiCall) -> dict[str, Any]:
    return {"TrackingServerArn": _servers(call).create(call.params).arn}


@operations.handles(SERVICE, "DescribeMlflowTrackingServer")
def describe(call: ApiCall) -> dict[str, Any]:
    return _servers(call).get(call.params.get("TrackingServerName")).describe()


@operations.handles(SERVICE, "UpdateMlflowTrackingServer")
def update(call: ApiCall) -> dict[str, Any]:
    return {"TrackingServerArn": _servers(call).update(call.params).arn}


@operations.handles(SERVICE, "DeleteMlflowTrackingServer")
def delete(call: ApiCall) -> dict[str, Any]:
    return {"TrackingServerArn": _servers(call).delete(call.params.get("TrackingServerName")).arn}


@operations.handles(SERVICE, "ListMlflowTrackingServers")
def list_servers(call: ApiCall) -> dict[str, Any]:
    p = call.params
    servers = list(_servers(call).servers.values())
    if p.get("TrackingServerStatus"):
        servers = [s for s in servers if s.status == p["TrackingServerStatus"]]
    if p.get("MlflowVersion"):
        servers = [s for s in servers if s.describe()["MlflowVersion"] == p["MlflowVersion"]]
    if p.get("CreatedAfter"):
        servers = [s for s in servers if s.created > p["CreatedAfter"]]
    if p.get("CreatedBefore"):
        servers = [s for s in servers if s.created < p["CreatedBefore"]]
    keys = {"Name": lambda s: s.name, "Status": lambda s: s.status}
    servers.sort(
        key=keys.get(p.get("SortBy"), lambda s: s.created), reverse=p.get("SortOrder", "Descending") == "Descending"
    )
    start, size = int(p.get("NextToken") or 0), int(p.get("MaxResults") or 100)
    page = servers[start : start + size]
    token = str(start + size) if start + size < len(servers) else None
    return {"TrackingServerSummaries": [s.summary() for s in page], **({"NextToken": token} if token else {})}
