"""Resource properties checked against CloudFormation's own resource schemas, as CloudFormation
does before it calls the service: required properties, enums, patterns, lengths and types.

The schemas are the registry's published ones, shipped (and kept current) with cfn-lint, which the
project already pins; `jsonschema` (a cfn-lint dependency) applies them. CloudFormation converts
template strings to the schema's boolean and number types ("true", "3"), so those are accepted.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER


class PropertiesValidationFailed(Exception):
    """CloudFormation's `Properties validation failed for resource ... with message: ...`."""

    def __init__(self, resource_type: str, errors: list[str]) -> None:
        self.message = f"Properties validation failed for resource {resource_type} with message: " + ", ".join(errors)
        super().__init__(self.message)


def _is_bool(checker, value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def _is_number(checker, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_integer(checker, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()


_Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine_many(
        {"boolean": _is_bool, "number": _is_number, "integer": _is_integer}
    ),
)


@functools.cache
def _validator(resource_type: str):
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    return _Validator(schema)


def attributes(resource_type: str) -> set[str]:
    """The `Fn::GetAtt` attributes the resource schema declares (its read-only properties)."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    return {p.rsplit("/", 1)[-1] for p in schema.get("readOnlyProperties", [])}


def check(resource_type: str, properties: dict[str, Any]) -> None:
    """Refuse `properties` the way CloudFormation does when they break the type's schema."""
    errors = sorted(_validator(resource_type).iter_errors(properties), key=lambda e: list(e.absolute_path))
    if errors:
        raise PropertiesValidationFailed(
            resource_type, ["#/" + "/".join(map(str, e.absolute_path)) + f": {e.message}" for e in errors]
        )
