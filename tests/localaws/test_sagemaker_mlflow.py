"""SageMaker managed MLflow tracking servers: CreateMlflowTrackingServer's rules refuse with
SageMaker's error codes; a created server is describable, listed, Creating -> Created, updatable
once Created, and deleted."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.localaws.test_sagemaker_domain import TRUST_SAGEMAKER, refused


@pytest.fixture(autouse=True)
def _short_status_delay(monkeypatch):
    monkeypatch.setenv("LOCALAWS_SAGEMAKER_MLFLOW_DELAY_S", "0.3")


@pytest.fixture
def prerequisites(stack):
    s3, iam = stack.client("s3"), stack.client("iam")
    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    role = iam.create_role(
        RoleName=f"mlflow-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER)
    )
    return {"bucket": bucket, "role": role["Role"]["Arn"]}


def request(prerequisites, **overrides) -> dict:
    out = {
        "TrackingServerName": f"tracking-{uuid.uuid4().hex[:8]}",
        "ArtifactStoreUri": f"s3://{prerequisites['bucket']}/mlflow",
        "RoleArn": prerequisites["role"],
        "TrackingServerSize": "Small",
        "AutomaticModelRegistration": True,
    }
    out.update(overrides)
    return out


def wait_status(sm, name: str, wanted: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sm.describe_mlflow_tracking_server(TrackingServerName=name)
        if found["TrackingServerStatus"] == wanted:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} not {wanted}")


def test_created_server_is_describable_and_goes_created(stack, prerequisites):
    sm = stack.client("sagemaker")
    wanted = request(prerequisites)
    arn = sm.create_mlflow_tracking_server(**wanted)["TrackingServerArn"]
    assert arn.endswith(f":mlflow-tracking-server/{wanted['TrackingServerName']}")
    described = sm.describe_mlflow_tracking_server(TrackingServerName=wanted["TrackingServerName"])
    assert described["TrackingServerStatus"] == "Creating"
    assert described["ArtifactStoreUri"] == wanted["ArtifactStoreUri"]
    assert described["AutomaticModelRegistration"] is True
    assert described["TrackingServerUrl"].startswith("https://t-")
    wait_status(sm, wanted["TrackingServerName"], "Created")
    names = [s["TrackingServerName"] for s in sm.list_mlflow_tracking_servers()["TrackingServerSummaries"]]
    assert wanted["TrackingServerName"] in names


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"TrackingServerSize": "Huge"}, "ValidationException", "trackingServerSize"),
        ({"TrackingServerName": "bad_name"}, "ValidationException", "trackingServerName"),
        (
            {"ArtifactStoreUri": "s3://no-such-bucket-4711/mlflow"},
            "ValidationException",
            "no-such-bucket-4711 does not exist",
        ),
        ({"ArtifactStoreUri": "/local/path"}, "ValidationException", "ArtifactStoreUri"),
        ({"RoleArn": "arn:aws:iam::123456789012:role/no-such-role"}, "ValidationException", "does not exist"),
        ({"WeeklyMaintenanceWindowStart": "Someday:25:00"}, "ValidationException", "weeklyMaintenanceWindowStart"),
    ],
)
def test_create_validation(stack, prerequisites, overrides, code, fragment):
    sm = stack.client("sagemaker")
    refused(lambda: sm.create_mlflow_tracking_server(**request(prerequisites, **overrides)), code, fragment)


def test_role_must_trust_sagemaker(stack, prerequisites):
    iam, sm = stack.client("iam"), stack.client("sagemaker")
    trust = {
        **TRUST_SAGEMAKER,
        "Statement": [{**TRUST_SAGEMAKER["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}],
    }
    role = iam.create_role(RoleName=f"ec2-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    refused(
        lambda: sm.create_mlflow_tracking_server(**request(prerequisites, RoleArn=role)),
        "ValidationException",
        "sagemaker.amazonaws.com",
    )


def test_update_conflicts_while_creating_then_updates_and_deletes(stack, prerequisites):
    sm = stack.client("sagemaker")
    wanted = request(prerequisites)
    name = wanted["TrackingServerName"]
    sm.create_mlflow_tracking_server(**wanted)
    refused(lambda: sm.create_mlflow_tracking_server(**wanted), "ValidationException", "already exists")
    refused(
        lambda: sm.update_mlflow_tracking_server(TrackingServerName=name, TrackingServerSize="Large"),
        "ConflictException",
    )
    wait_status(sm, name, "Created")
    refused(
        lambda: sm.update_mlflow_tracking_server(TrackingServerName=name, TrackingServerSize="Huge"),
        "ValidationException",
        "trackingServerSize",
    )
    sm.update_mlflow_tracking_server(TrackingServerName=name, TrackingServerSize="Large")
    assert wait_status(sm, name, "Updated")["TrackingServerSize"] == "Large"
    assert sm.delete_mlflow_tracking_server(TrackingServerName=name)["TrackingServerArn"].endswith(name)
    refused(lambda: sm.describe_mlflow_tracking_server(TrackingServerName=name), "ResourceNotFound", name)
