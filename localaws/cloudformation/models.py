"""CloudFormation as the DAGs need it from moto: change sets that behave like AWS's.

moto 5.2.5 keeps stacks and change sets but differs from CloudFormation where an idempotent
deploy operator depends on it. Installed once per process by the registry, these patches make it:
- decide "no changes" on effective values (template defaults filled in, `UsePreviousValue`
  resolved, list parameters compared as the comma-joined strings callers send), and answer a
  change set, never a `ValidationError`, for an update with nothing to do;
- list a `Modify` change for resources that use a changed parameter;
- give a stack created from a change set its outputs, and remember an update's parameters;
- report parameters as AWS does (`List<>` as "a,b", an SSM-typed parameter as its path), which
  is also what `UsePreviousValue` reuses;
- fail like CloudFormation when a resource cannot be created: the resource's `CREATE_FAILED`
  event with moto's reason, then `ROLLBACK_COMPLETE` (`UPDATE_ROLLBACK_COMPLETE` for updates),
  instead of an HTTP 500;
- refuse to create a bucket that already exists, and apply a bucket's public access block and
  versioning (moto's CloudFormation ignores both);
- split `!GetAtt A.B.C` at the first dot only, as CloudFormation does;
- give RDS instances their RDS-managed master user secret (`ManageMasterUserPassword`);
- update log groups in place (moto has no update: the group's `Ref` vanished from outputs);
- register ECS task definitions with every property the template sets (moto keeps only memory,
  so Fargate task definitions lost their cpu, network mode and roles).
- let resource types moto does not model complete as `RecordedResource`s whose `Ref` and
  `Fn::GetAtt` resolve (moto fails a template that reads an attribute of one); nothing is created
  for them, and `recorded_only` lists which they are.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.utils import yaml_tag_constructor as cfn_utils_yaml_tag_constructor
from moto.core.common_models import CloudFormationModel
from moto.ecs import models as ecs_models
from moto.logs import models as logs_models
from moto.rds import models as rds_models
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


_moto_resource_class = parsing.resource_class_from_type


def recorded_only(template: dict[str, Any]) -> dict[str, str]:
    """Logical ids and types of the template's resources moto only records (creates nothing for)."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if _moto_resource_class(resource["Type"]) in (None, RecordedResource)
    }


class RecordedResource(CloudFormationModel):
    """A resource of a type moto does not model: nothing is created, but the stack completes and
    `Ref`/`Fn::GetAtt` resolve to stable, well-formed values (moto would fail the whole template
    on a `GetAtt` of it). Which resources this applies to is listed by `recorded_only`."""

    def __init__(self, resource_type: str, name: str, account_id: str, region_name: str) -> None:
        self.resource_type = resource_type
        self.name = name
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::LocalAws::Recorded"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name.endswith("Arn"):
            _, service, kind = self.resource_type.split("::")
            resource = re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()
            return f"arn:aws:{service.lower()}:{self.region_name}:{self.account_id}:{resource}/{self.name}"
        if attribute_name.endswith("Id"):
            digest = hashlib.sha256(f"{self.resource_type}/{self.name}".encode()).hexdigest()[:12]
            return f"{attribute_name[:-2].lower() or 'id'}-{digest}"
        return f"{self.name}.{attribute_name}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(
            kwargs.get("ResourceType", cloudformation_json.get("Type", "?")), resource_name, account_id, region_name
        )

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None


def _resource_class_from_type(resource_type: str):
    known = _moto_resource_class(resource_type)
    if known is None and resource_type not in parsing.NULL_MODELS and resource_type.startswith("AWS::"):
        return RecordedResource
    return known


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


def _stack_parameters(stack) -> dict[str, str]:
    """Parameter values as CloudFormation reports them, and as `UsePreviousValue` reuses them: the
    value given (an SSM parameter's path, not what it resolved to), a `List<>` as "a,b"."""
    declared = (stack.template_dict or {}).get("Parameters", {}) or {}
    values = {k: _flat(v) for k, v in stack.resource_map.resolved_parameters.items()}
    for key, spec in declared.items():
        if key in stack.parameters:
            values[key] = _flat(stack.parameters[key])
        elif str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and "Default" in spec:
            values[key] = _flat(spec["Default"])
    return values


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
        except Exception as err:  # moto failing anywhere in the update is the stack failing, not a 500
            failure = (
                err
                if isinstance(err, ResourceFailed)
                else ResourceFailed(stack.name, "AWS::CloudFormation::Stack", f"{type(err).__name__}: {err}")
            )
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


def _update_log_group(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    """moto has no update for log groups (the resource, and so its Ref, vanished on any change)."""
    backend = logs_models.logs_backends[account_id][region_name]
    properties = cloudformation_json.get("Properties", {})
    if new_resource_name != original_resource.name:
        created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        backend.delete_log_group(original_resource.name)
        return created
    if properties.get("RetentionInDays"):
        backend.put_retention_policy(original_resource.name, int(properties["RetentionInDays"]))
    else:
        backend.delete_retention_policy(original_resource.name)
    return original_resource


def _create_db_instance(original):
    """moto's CloudFormation ignores `ManageMasterUserPassword` and has no `MasterUserSecret.SecretArn`."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        instance = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        if str(properties.get("ManageMasterUserPassword", "false")).lower() == "true":
            instance.update(
                manage_master_user_password=True,
                master_user_secret_kms_key_id=properties.get("MasterUserSecret", {}).get("KmsKeyId"),
            )
        return instance

    return classmethod(create)


def _db_instance_attribute(original):
    def get_cfn_attribute(self, attribute_name):
        if attribute_name == "MasterUserSecret.SecretArn" and getattr(self, "master_user_secret", None):
            return self.master_user_secret.secret.arn
        return original(self, attribute_name)

    return get_cfn_attribute


def _yaml_tag_constructor(loader, tag, node):
    """moto splits `!GetAtt A.B.C` at every dot; CloudFormation splits at the first only
    (`Database.Endpoint.Address`, `Database.MasterUserSecret.SecretArn`)."""
    if tag == "!GetAtt" and not isinstance(node.value, list):
        return {"Fn::GetAtt": node.value.split(".", 1)}
    return cfn_utils_yaml_tag_constructor(loader, tag, node)


def install() -> None:
    global _installed
    if _installed:
        return
    cfn_models.yaml_tag_constructor = _yaml_tag_constructor
    cfn_utils.yaml_tag_constructor = _yaml_tag_constructor
    cfn_responses.yaml_tag_constructor = _yaml_tag_constructor
    backend = cfn_models.CloudFormationBackend
    backend.create_change_set = _create_change_set(backend.create_change_set)
    backend.execute_change_set = _execute_change_set(backend.execute_change_set)
    cfn_models.Stack.create_resources = _create_resources(cfn_models.Stack.create_resources)
    parsing.resource_class_from_type = _resource_class_from_type
    cfn_models.Stack.stack_parameters = property(_stack_parameters)
    parsing.parse_and_create_resource = _attributing(parsing.parse_and_create_resource)
    parsing.parse_and_update_resource = _attributing(parsing.parse_and_update_resource)
    response = cfn_responses.CloudFormationResponse
    response._validate_different_update, response.create_change_set = _no_error_for_unchanged_change_set(
        response._validate_different_update, response.create_change_set
    )
    s3_models.FakeBucket.create_from_cloudformation_json = _create_bucket(
        s3_models.FakeBucket.create_from_cloudformation_json
    )
    logs_models.LogGroup.update_from_cloudformation_json = classmethod(_update_log_group)
    db_instance = rds_models.DBInstance
    db_instance.create_from_cloudformation_json = _create_db_instance(db_instance.create_from_cloudformation_json)
    db_instance.get_cfn_attribute = _db_instance_attribute(db_instance.get_cfn_attribute)
    db_instance.has_cfn_attr = classmethod(
        lambda cls, attr: attr in ("Endpoint.Address", "Endpoint.Port", "MasterUserSecret.SecretArn")
    )
    task_definition = ecs_models.TaskDefinition
    task_definition.create_from_cloudformation_json = classmethod(_create_task_definition)
    task_definition.update_from_cloudformation_json = classmethod(_update_task_definition)
    _installed = True
