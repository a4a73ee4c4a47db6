"""No resource type completes without being created: a type the local stack has no model for
fails its resource (`CREATE_FAILED`, "the local stack does not create ..."), where moto would skip
it with a log line and let the stack complete. So a new template resource is never silently only
recorded; `unmodelled` lists a template's resources in that state, so a test can require none.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

_moto_resource_class = parsing.resource_class_from_type


class UnsupportedResourceType(Exception):
    def __init__(self, resource_type: str) -> None:
        self.message = (
            f"The local stack does not create {resource_type} resources: add a model for it in localaws "
            "(with the service's validation) before a template uses it."
        )
        super().__init__(self.message)


def unmodelled(template: dict[str, Any]) -> dict[str, str]:
    """Logical ids and types of the template's resources the local stack would refuse to create."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if _resource_class_from_type(resource["Type"]) is NotCreated
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


def _resource_class_from_type(resource_type: str):
    known = _moto_resource_class(resource_type)
    if known is not None or resource_type in parsing.NULL_MODELS:
        return known
    return NotCreated


def install() -> None:
    parsing.resource_class_from_type = _resource_class_from_type
