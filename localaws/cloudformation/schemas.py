"""A resource's properties checked against its CloudFormation resource schema, as CloudFormation does
before calling the service (required properties, types, enums, minimums, no unknown properties).

The schemas are the registry's own (`aws-<service>-<type>.json`), as cfn-lint ships them for each
region, so the local stack refuses exactly the templates CloudFormation's schema check would. Values
arrive from moto's template parser as strings when they came through `!Ref` of a `Number` parameter
or a condition: CloudFormation converts those to the schema's type first, and so does this.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER


class InvalidProperties(ValueError):
    """CloudFormation's "Properties validation failed" (the resource's CREATE_FAILED reason)."""


@functools.cache
def resource_schema(resource_type: str, region: str = "us-east-1") -> dict[str, Any]:
    return PROVIDER_SCHEMA_MANAGER.get_resource_schema(region.replace("_", "-"), resource_type).schema


def _coerce(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    if isinstance(value, str) and "string" not in kinds:
        if "integer" in kinds and value.lstrip("-").isdigit():
            return int(value)
        if "number" in kinds:
            try:
                return float(value) if "." in value else int(value)
            except ValueError:
                return value
        if "boolean" in kinds and value.lower() in ("true", "false"):
            return value.lower() == "true"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        pattern_schema = next(iter(patterns.values()), None)
        return {
            k: _coerce(v, props.get(k) or pattern_schema or {}, root) if (props.get(k) or pattern_schema) else v
            for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(v, schema["items"], root) for v in value]
    return value


def validated(resource_type: str, properties: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """`properties` converted to the schema's types, or `InvalidProperties` naming each violation
    by its path (`#/Quota/Limit: -1 is less than the minimum of 0`)."""
    schema = resource_schema(resource_type, region)
    read_only = {p.rsplit("/", 1)[-1] for p in schema.get("readOnlyProperties", []) if p.count("/") == 2}
    if given := sorted(read_only & set(properties)):
        raise InvalidProperties(f"Properties validation failed for resource: read-only properties set: {given}")
    coerced = _coerce(properties, schema, schema)
    checked = {k: v for k, v in schema.items() if k not in ("readOnlyProperties", "writeOnlyProperties")}
    errors = sorted(jsonschema.Draft7Validator(checked).iter_errors(coerced), key=lambda e: list(e.absolute_path))
    if errors:
        detail = "; ".join(f"#/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors)
        raise InvalidProperties(f"Properties validation failed for resource {resource_type}: {detail}")
    return coerced


def check(resource_type: str, properties: dict[str, Any], region: str = "us-east-1") -> None:
    """Refuse `properties` the way CloudFormation does when they break the type's schema."""
    validated(resource_type, properties, region)


def attributes(resource_type: str, region: str = "us-east-1") -> set[str]:
    """The `Fn::GetAtt` attributes the resource schema declares (its read-only properties)."""
    return {p.rsplit("/", 1)[-1] for p in resource_schema(resource_type, region).get("readOnlyProperties", [])}
