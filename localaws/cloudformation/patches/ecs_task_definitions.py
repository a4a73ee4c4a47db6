"""`AWS::ECS::TaskDefinition` registered with every property the template sets: moto keeps only
memory, so Fargate task definitions lost their cpu, network mode and roles. A change registers a
new revision, as task definitions are immutable. `AWS::ECS::Cluster` keeps its name, settings,
capacity providers and default strategy (moto keeps only the name), so RunTask can check a
capacity provider strategy against the cluster's providers, as ECS does."""

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


def _cluster_kwargs(resource_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    camel = ecs_models.remap_nested_keys
    to_camel = ecs_models.pascal_to_camelcase
    return {
        "cluster_name": properties.get("ClusterName") or resource_name,
        "cluster_settings": camel(properties.get("ClusterSettings", []), to_camel) or None,
        "capacity_providers": list(properties.get("CapacityProviders") or []) or None,
        "default_capacity_provider_strategy": camel(properties.get("DefaultCapacityProviderStrategy", []), to_camel)
        or None,
        "tags": [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])] or None,
    }


def _create_cluster(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.create_cluster(**_cluster_kwargs(resource_name, cloudformation_json.get("Properties", {})))


def _update_cluster(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    """A new name replaces the cluster; otherwise its providers and settings are updated in place."""
    wanted = _cluster_kwargs(new_resource_name, cloudformation_json.get("Properties", {}))
    backend = ecs_models.ecs_backends[account_id][region_name]
    if original_resource.name != wanted["cluster_name"]:
        backend.delete_cluster(original_resource.arn)
        return backend.create_cluster(**wanted)
    original_resource.capacity_providers = wanted["capacity_providers"]
    original_resource.default_capacity_provider_strategy = wanted["default_capacity_provider_strategy"]
    if wanted["cluster_settings"] is not None:
        original_resource.settings = wanted["cluster_settings"]
    return original_resource


def install() -> None:
    cluster = ecs_models.Cluster
    cluster.create_from_cloudformation_json = classmethod(_create_cluster)
    cluster.update_from_cloudformation_json = classmethod(_update_cluster)
    task_definition = ecs_models.TaskDefinition
    task_definition.create_from_cloudformation_json = classmethod(_create_task_definition)
    task_definition.update_from_cloudformation_json = classmethod(_update_task_definition)
