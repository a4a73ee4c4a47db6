"""CloudFormation as the DAGs need it from moto: change sets that behave like AWS's.

moto 5.2.5 keeps stacks and change sets but differs from CloudFormation where an idempotent
deploy operator depends on it. Installed once per process by the registry, these patches make it:
- decide "no changes" on effective values (template defaults filled in, `UsePreviousValue`
  resolved, list parameters compared as the comma-joined strings callers send), and answer a
  change set, never a `ValidationError`, for an update with nothing to do;
- list a `Modify` change for resources that use a changed parameter;
- give a stack created from a change set its outputs, and remember an update's parameters;
- show `List<>` parameters as the comma-joined string AWS shows;
- fail like CloudFormation when a resource cannot be created: the resource's `CREATE_FAILED`
  event with moto's reason, then `ROLLBACK_COMPLETE` (`UPDATE_ROLLBACK_COMPLETE` for updates),
  instead of an HTTP 500;
- refuse to create a bucket that already exists, and apply a bucket's public access block and
  versioning (moto's CloudFormation ignores both);
- register ECS task definitions with every property the template sets (moto keeps only memory,
  so Fargate task definitions lost their cpu, network mode and roles).
Resource types moto does not model are still only recorded (`recorded_only` lists them).
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.ecs import models as ecs_models
from moto.s3 import models as s3_models
from moto.utilities.utils import get_partition

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."
_installed = False


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id} [{resource_type}]: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


def recorded_only(template: dict[str, Any]) -> dict[str, str]:
    """Logical ids and types of the template's resources moto only records (creates nothing for)."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if parsing.resource_class_from_type(resource["Type"]) is None
    }


def _flat(value: Any) -> str:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(ValueError, SyntaxError):  # moto stores List<> values as str(list)
            value = ast.literal_eval(value)
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _effective(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, str]:
    declared = template.get("Parameters", {}) or {}
    values = {k: _flat(v["Default"]) for k, v in declared.items() if "Default" in v}
    values.update({k: _flat(v) for k, v in parameters.items() if k in declared})
    return values


def _uses(resource: dict[str, Any], names: set[str]) -> bool:
    text = json.dumps(resource, default=str)
    return any(f'"Ref": "{n}"' in text or re.search(r"\$\{" + re.escape(n) + r"[}.]", text) for n in names)


def _create_change_set(original):
    def create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kw):
        parameters = {k: _flat(v) for k, v in parameters.items()}
        change_set_id, stack_id = original(
            self, stack_name, change_set_name, template, parameters, description, change_set_type, **kw
        )
        change_set = self.change_sets[change_set_id]
        if change_set_type != "UPDATE":
            return change_set_id, stack_id
        stack = change_set.stack
        old = _effective(stack.template_dict, stack.parameters)
        new = _effective(change_set.template_dict, parameters)
        if stack.has_template(template) and old == new:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
            change_set.changes = []
            return change_set_id, stack_id
        change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_COMPLETE", "AVAILABLE", None
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        listed = {c.logical_resource_id for c in change_set.changes}
        for logical_id, resource in change_set.template_dict.get("Resources", {}).items():
            if logical_id not in listed and _uses(resource, changed):
                change_set.changes.append(
                    cfn_models.Change(action="Modify", logical_resource_id=logical_id, resource_type=resource["Type"])
                )
        return change_set_id, stack_id

    return create_change_set


def _execute_change_set(original):
    def execute_change_set(self, change_set_name, stack_name=None):
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        try:
            original(self, change_set_name, stack_name)
        except ResourceFailed as failure:
            _roll_back(stack, change_set.change_set_type, failure)
            change_set.execution_status = "EXECUTE_FAILED"
            return
        stack.parameters = dict(change_set.parameters)
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    return execute_change_set


def _create_resources(original):
    def create_resources(self):
        try:
            original(self)
        except ResourceFailed as failure:
            _roll_back(self, "CREATE", failure)

    return create_resources


def _roll_back(stack, change_set_type: str, failure: ResourceFailed) -> None:
    """Record the failure as CloudFormation does. Resources already made stay in moto: moto has no
    rollback, and a ROLLBACK_COMPLETE stack can only be deleted anyway."""
    verb = "CREATE" if change_set_type == "CREATE" else "UPDATE"
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status=f"{verb}_FAILED",
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )
    prefix = "" if verb == "CREATE" else "UPDATE_"
    stack._add_stack_event(
        f"{prefix}ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to {verb.lower()}: [{failure.logical_id}]. ",
    )
    stack._add_stack_event(f"{prefix}ROLLBACK_COMPLETE")
    stack.status = f"{prefix}ROLLBACK_COMPLETE"


def _attributing(original):
    """Wrap moto's per-resource create/update so a failure names its resource."""

    def wrapped(logical_id, resource_json, resources_map, account_id, region_name, *args, **kwargs):
        try:
            return original(logical_id, resource_json, resources_map, account_id, region_name, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as err:
            reason = getattr(err, "message", None) or getattr(err, "description", None) or str(err)
            raise ResourceFailed(logical_id, resource_json.get("Type", "?"), f"{type(err).__name__}: {reason}") from err

    return wrapped


def _task_definition_kwargs(properties: dict[str, Any]) -> dict[str, Any]:
    camel = ecs_models.remap_nested_keys
    to_camel = ecs_models.pascal_to_camelcase
    kwargs = {
        "family": properties.get("Family") or f"task-definition-{abs(hash(json.dumps(properties, default=str)))}",
        "container_definitions": camel(properties.get("ContainerDefinitions", []), to_camel),
        "volumes": camel(properties.get("Volumes", []), to_camel),
        "network_mode": properties.get("NetworkMode"),
        "requires_compatibilities": properties.get("RequiresCompatibilities"),
        "cpu": _flat(properties["Cpu"]) if "Cpu" in properties else None,
        "memory": _flat(properties["Memory"]) if "Memory" in properties else None,
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


def _no_error_for_unchanged_change_set(validate, create_change_set):
    """CloudFormation answers an unchanged CreateChangeSet with a FAILED change set (decided in the
    backend's create_change_set), never with UpdateStack's "No updates are to be performed"."""

    def checked_validate(self, incoming_params, stack_body, old_stack):
        if getattr(self, "_localaws_change_set", False):
            return
        validate(self, incoming_params, stack_body, old_stack)

    def marked_create_change_set(self):
        self._localaws_change_set = True
        try:
            return create_change_set(self)
        finally:
            self._localaws_change_set = False

    return checked_validate, marked_create_change_set


class BucketExists(Exception):
    pass


def _create_bucket(original):
    """As on AWS: a stack cannot adopt an existing bucket (a Retain-ed one from a deleted stack,
    say), and the bucket gets the public access block and versioning the template sets."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        backend = s3_models.s3_backends[account_id][get_partition(region_name)]
        if resource_name in backend.buckets:
            raise BucketExists(f"{resource_name} already exists")
        bucket = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        if "PublicAccessBlockConfiguration" in properties:
            block = {k: str(v).lower() for k, v in properties["PublicAccessBlockConfiguration"].items()}
            backend.put_public_access_block(resource_name, block)
        if "VersioningConfiguration" in properties:
            backend.put_bucket_versioning(resource_name, properties["VersioningConfiguration"]["Status"])
        return bucket

    return classmethod(create)


def install() -> None:
    global _installed
    if _installed:
        return
    backend = cfn_models.CloudFormationBackend
    backend.create_change_set = _create_change_set(backend.create_change_set)
    backend.execute_change_set = _execute_change_set(backend.execute_change_set)
    cfn_models.Stack.create_resources = _create_resources(cfn_models.Stack.create_resources)
    # DescribeStacks shows a List<> parameter as AWS does ("a,b"), not as a Python list.
    cfn_models.Stack.stack_parameters = property(
        lambda stack: {k: _flat(v) for k, v in stack.resource_map.resolved_parameters.items()}
    )
    parsing.parse_and_create_resource = _attributing(parsing.parse_and_create_resource)
    parsing.parse_and_update_resource = _attributing(parsing.parse_and_update_resource)
    response = cfn_responses.CloudFormationResponse
    response._validate_different_update, response.create_change_set = _no_error_for_unchanged_change_set(
        response._validate_different_update, response.create_change_set
    )
    s3_models.FakeBucket.create_from_cloudformation_json = _create_bucket(
        s3_models.FakeBucket.create_from_cloudformation_json
    )
    task_definition = ecs_models.TaskDefinition
    task_definition.create_from_cloudformation_json = classmethod(_create_task_definition)
    task_definition.update_from_cloudformation_json = classmethod(_update_task_definition)
    _installed = True
