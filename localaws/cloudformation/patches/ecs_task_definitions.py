"""`AWS::ECS::TaskDefinition` registered with every property the template sets: moto keeps only
memory, so Fargate task definitions lost their cpu, network mode and roles. A change registers a
new revision, as task definitions are immutable."""

from __future__ import annotations

import json
from typing import Any

from moto.ecs import models as ecs_models

from localaws.cloudformation.patches.parameters import flat


def _task_definition_kwargs(properties: dict[str, Any]) -> dict[str, Any]:
    camel = ecs_models.remap_nested_keys
    to_camel = ecs_models.pascal_to_camelcase
    kwargs = {
        "family": properties.get("Family") or f"task-definition-{abs(hash(json.dumps(properties, default=str)))}",
        "container_definitions": camel(properties.get("ContainerDefinitions", []), to_camel),
        "volumes": camel(properties.get("Volumes", []), to_camel),
        "network_mode": properties.get("NetworkMode"),
        "requires_compatibilities": properties.get("RequiresCompatibilities"),
        "cpu": flat(properties["Cpu"]) if "Cpu" in properties else None,
        "memory": flat(properties["Memory"]) if "Memory" in properties else None,
        "task_role_arn": properties.get("TaskRoleArn"),
        "execution_role_arn": properties.get("ExecutionRoleArn"),
        "runtime_platform": camel(properties["RuntimePlatform"], to_camel) if "RuntimePlatform" in properties else None,
        "tags": [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])] or None,
    }
    return kwargs


def _create_task_definition(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.register_task_definition(**_task_definition_kwargs(cloudformation_json["Properties"]))


def _update_task_definition(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    """Task definitions are immutable: any change registers a new revision (the old one is kept,
    as CloudFormation keeps it ACTIVE until the stack update completes)."""
    wanted = _task_definition_kwargs(cloudformation_json["Properties"])
    current = {
        "family": original_resource.family,
        "container_definitions": original_resource.container_definitions,
        "cpu": original_resource.cpu,
        "memory": original_resource.memory,
        "network_mode": original_resource.network_mode,
        "task_role_arn": original_resource.task_role_arn,
        "execution_role_arn": original_resource.execution_role_arn,
    }
    if all(json.dumps(current[k], default=str) == json.dumps(wanted[k], default=str) for k in current):
        return original_resource
    return ecs_models.ecs_backends[account_id][region_name].register_task_definition(**wanted)


def install() -> None:
    task_definition = ecs_models.TaskDefinition
    task_definition.create_from_cloudformation_json = classmethod(_create_task_definition)
    task_definition.update_from_cloudformation_json = classmethod(_update_task_definition)
