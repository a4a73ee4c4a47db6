"""Resource types moto does not model complete as `RecordedResource`s whose `Ref` and `Fn::GetAtt`
resolve (moto fails a template that reads an attribute of one). Nothing is created for them;
`recorded_only` lists which they are, so a test can tell what the local stack only pretends."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

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


def install() -> None:
    parsing.resource_class_from_type = _resource_class_from_type
