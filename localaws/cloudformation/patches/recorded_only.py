"""No resource type completes without being created: a type the local stack has no model for
fails its resource (`CREATE_FAILED`, "the local stack does not create ..."), so a new template
resource can never be silently recorded (moto skips such resources with a log line and the stack
completes).

The one exception is `STILL_RECORDED`: the API Gateway types another branch (issue15-apigw) is
implementing complete as `RecordedResource`s, with resolvable `Ref` and `Fn::GetAtt` and nothing
created. `recorded_only` lists a template's resources in that state, so a test can tell.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

_moto_resource_class = parsing.resource_class_from_type

# Temporary: the issue15-apigw branch implements these and empties this set. Nothing else may be added.
STILL_RECORDED = frozenset(
    {
        "AWS::ApiGateway::ApiKey",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey",
    }
)


class UnsupportedResourceType(Exception):
    def __init__(self, resource_type: str) -> None:
        self.message = (
            f"The local stack does not create {resource_type} resources: add a model for it in localaws "
            "(with the service's validation) before a template uses it."
        )
        super().__init__(self.message)


def recorded_only(template: dict[str, Any]) -> dict[str, str]:
    """Logical ids and types of the template's resources that would complete without being created."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if _resource_class_from_type(resource["Type"]) in (None, RecordedResource)
        and resource["Type"] not in parsing.NULL_MODELS
    }


class NotCreated(CloudFormationModel):
    """A type the local stack has no model for: creating it fails the resource."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::LocalAws::NotCreated"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        raise UnsupportedResourceType(kwargs.get("ResourceType") or cloudformation_json.get("Type", "?"))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        raise UnsupportedResourceType(cloudformation_json.get("Type", "?"))

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None


class RecordedResource(CloudFormationModel):
    """A resource of a `STILL_RECORDED` type: nothing is created, but the stack completes and
    `Ref`/`Fn::GetAtt` resolve to stable, well-formed values."""

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
    if known is not None or resource_type in parsing.NULL_MODELS:
        return known
    return RecordedResource if resource_type in STILL_RECORDED else NotCreated


def install() -> None:
    parsing.resource_class_from_type = _resource_class_from_type
