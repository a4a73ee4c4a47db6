"""The infra_teardown DAG's steps: take one environment off the account, dependants first.

Each deletion step is idempotent and doubles as its own wait: it starts deleting whatever of its
kind is still there and answers "done" only when nothing is left (the DAG runs it as a reschedule
sensor, so a rerun, or a second run, finds what is left and goes on from there). Order: Personalize
campaigns, solutions (with their versions) and event trackers, datasets, dataset group and schemas;
the SageMaker endpoint, then its endpoint configs and models; then the stacks in reverse dependency
order. Resources a stack retains (`DeletionPolicy: Retain`: the data buckets, the A/B ledger) stay
and are listed in the result.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

# Personalize kinds deleted together, in order: a level starts once the one before is gone.
PERSONALIZE_LEVELS = {
    "campaigns": ("campaign",),
    "solutions": ("solution", "event_tracker"),
    "datasets": ("dataset",),
    "dataset_group": ("dataset_group", "schema"),
}
# What a stack's retained resources are checked by after the stack is gone.
RETAINED_TYPES = ("AWS::S3::Bucket", "AWS::DynamoDB::Table")


def plan(params: dict) -> dict[str, Any]:
    """The deployment to delete, refused unless the confirmation is its environment's name."""
    from mlops.deployment import Deployment, current
    from mlops.stacks import cloudformation_role, deletion_order

    configured = current()
    deployment = Deployment(params["project"] or configured.project, params["environment"] or configured.environment)
    if (params.get("confirm") or "").strip() != deployment.environment:
        raise AirflowFailException(
            f"confirmation {params.get('confirm')!r} is not the environment's name: type "
            f"{deployment.environment!r} in the confirm field to delete {deployment.project}-*-{deployment.environment}"
        )
    stacks = deletion_order(params.get("stacks") or None)
    return {
        "project": deployment.project,
        "environment": deployment.environment,
        "prefix": deployment.recommender,
        "endpoint": deployment.endpoint,
        "stacks": {key: deployment.stack_name(key) for key in stacks},
        "stack_order": stacks,
        "outputs_prefix": deployment.stack_outputs_prefix,
        "parameters": [deployment.campaign_parameter, deployment.tracking_parameter],
        "role_arn": cloudformation_role(deployment.project, deployment.environment, params.get("role_arn") or ""),
    }


def delete_personalize(level: str, prefix: str, *, aws_conn_id: str) -> dict[str, Any]:
    """One level of Personalize resources named after the deployment: start deleting what is
    there; `done` once none is left."""
    from mlops.hooks.personalize import KINDS, PersonalizeHook

    hook = PersonalizeHook(aws_conn_id=aws_conn_id)
    remaining, started = [], []
    for kind in PERSONALIZE_LEVELS[level]:
        for summary in hook.list_named(kind, prefix):
            arn = summary[KINDS[kind].arn_key]
            status = summary.get("status", "")
            if not status.startswith("DELETE"):
                outcome = hook.delete(kind, arn)
                if outcome == "gone":
                    continue
                if outcome == "deleting":
                    started.append(arn)
            remaining.append(arn)
    for arn in started:
        print(f"deleting {arn}")
    return {"done": not remaining, "remaining": remaining, "started": started}


def delete_endpoint(endpoint: str, *, aws_conn_id: str) -> dict[str, Any]:
    """Delete the A/B endpoint (billed per instance hour); `done` once it no longer exists."""
    from mlops.hooks.sagemaker_endpoint import SageMakerEndpointHook

    hook = SageMakerEndpointHook(aws_conn_id=aws_conn_id)
    found = hook.find_endpoint(endpoint)
    if found is None:
        return {"done": True, "endpoint": endpoint}
    if found["EndpointStatus"] not in ("Deleting", "Creating", "Updating", "SystemUpdating", "RollingBack"):
        hook.conn.delete_endpoint(EndpointName=endpoint)
        print(f"deleting endpoint {endpoint} (was {found['EndpointStatus']})")
    return {"done": False, "endpoint": endpoint, "status": found["EndpointStatus"]}


def delete_endpoint_configs_and_models(prefix: str, endpoint: str, *, aws_conn_id: str) -> dict[str, list[str]]:
    """Every endpoint config, then every model, named `<prefix>-...` (the endpoint is gone by now:
    nothing references them)."""
    from mlops.hooks.sagemaker_endpoint import SageMakerEndpointHook

    hook = SageMakerEndpointHook(aws_conn_id=aws_conn_id)
    if hook.find_endpoint(endpoint) is not None:
        raise RuntimeError(f"endpoint {endpoint} still exists: its configs and models cannot go yet")
    configs = hook.named_endpoint_configs(prefix + "-")
    models = hook.named_models(prefix + "-")
    deleted = hook.delete_configs_and_models(configs, models)
    for name in deleted["endpoint_configs"] + deleted["models"]:
        print(f"deleted {name}")
    return deleted


def inventory(stacks: dict[str, str], *, aws_conn_id: str) -> dict[str, list[dict[str, str]]]:
    """Before anything is deleted: the stacks' resources that may outlive them (buckets, tables),
    so the result can say which ones were retained."""
    from mlops.hooks.cloudformation import CloudFormationStackHook

    hook = CloudFormationStackHook(aws_conn_id=aws_conn_id)
    found: dict[str, list[dict[str, str]]] = {}
    for key, name in stacks.items():
        if hook.get_stack(name) is None:
            continue
        found[key] = [
            {"type": r["ResourceType"], "name": r["PhysicalResourceId"], "logical_id": r["LogicalResourceId"]}
            for r in hook.stack_resources(name)
            if r["ResourceType"] in RETAINED_TYPES and r.get("PhysicalResourceId")
        ]
    return found


def delete_stacks(plan: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """Delete the stacks, each once every stack that reads its outputs is gone; `done` once none
    is left. A failed deletion fails with the events naming the resources CloudFormation kept."""
    from mlops.hooks.cloudformation import CloudFormationStackHook
    from mlops.stacks import dependents

    hook = CloudFormationStackHook(aws_conn_id=aws_conn_id)
    present = {key: hook.get_stack(name) for key, name in plan["stacks"].items()}
    present = {key: stack for key, stack in present.items() if stack and stack["StackStatus"] != "DELETE_COMPLETE"}
    failed = {key: s for key, s in present.items() if s["StackStatus"] == "DELETE_FAILED"}
    if failed:
        reasons = [line for key in failed for line in hook.failure_events(plan["stacks"][key])]
        raise AirflowFailException(
            f"deleting stack(s) {sorted(plan['stacks'][k] for k in failed)} failed:\n  " + "\n  ".join(reasons)
        )
    for key in plan["stack_order"]:
        stack = present.get(key)
        if stack is None or stack["StackStatus"].endswith("_IN_PROGRESS"):
            continue
        waiting_for = [d for d in dependents(key) if d in present]
        if not waiting_for:
            hook.delete_stack(plan["stacks"][key], role_arn=plan["role_arn"] or None)
            print(f"deleting stack {plan['stacks'][key]} (was {stack['StackStatus']})")
    return {"done": not present, "remaining": sorted(plan["stacks"][k] for k in present)}


def delete_published_parameters(plan: dict, *, aws_conn_id: str) -> list[str]:
    """The stacks' published outputs and the campaign/tracking parameters: nothing may read a
    deleted stack's names afterwards."""
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    ssm = SsmHook(aws_conn_id=aws_conn_id).conn
    names = [
        p["Name"]
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=plan["outputs_prefix"], Recursive=True)
        for p in page["Parameters"]
    ]
    found = ssm.get_parameters(Names=plan["parameters"])["Parameters"]
    names += [p["Name"] for p in found]
    for start in range(0, len(names), 10):  # DeleteParameters takes at most 10 names
        ssm.delete_parameters(Names=names[start : start + 10])
    return names


def report(plan: dict, inventory: dict, deleted_parameters: list[str], *, aws_conn_id: str) -> dict[str, Any]:
    """What is left of the environment: the retained resources (kept on purpose, with their data)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    dynamodb = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="dynamodb").conn
    retained: dict[str, list[str]] = {"buckets": [], "tables": []}
    for resources in inventory.values():
        for resource in resources:
            if resource["type"] == "AWS::S3::Bucket" and s3.check_for_bucket(resource["name"]):
                retained["buckets"].append(resource["name"])
            elif resource["type"] == "AWS::DynamoDB::Table":
                try:
                    dynamodb.describe_table(TableName=resource["name"])
                except dynamodb.exceptions.ResourceNotFoundException:
                    continue
                retained["tables"].append(resource["name"])
    retained = {k: sorted(v) for k, v in retained.items()}
    for kind, names in retained.items():
        for name in names:
            print(f"retained {kind[:-1]}: {name} (delete it by hand once its data is no longer needed)")
    return {
        "environment": plan["environment"],
        "stacks_deleted": [plan["stacks"][k] for k in plan["stack_order"] if k in inventory],
        "parameters_deleted": len(deleted_parameters),
        "retained": retained,
    }
