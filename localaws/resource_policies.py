"""The grammar checks a service makes when it is given a resource policy (a bucket policy, a topic
policy): valid JSON, `Statement` entries with an `Effect`, a principal, actions of the service and
resources of the resource the policy is attached to.

Action names come from the IAM service authorization reference as cfn-lint ships it
(`Policies.json`, pinned with cfn-lint), so a misspelt action is refused as the service refuses
it. Principals are the forms IAM accepts: `*`, `AWS` (account id, or an IAM ARN that must exist in
this account), `Service` (`name.amazonaws.com`), `Federated`, `CanonicalUser`.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfnlint.data import AdditionalSpecs
from cfnlint.helpers import load_resource
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

VERSIONS = ("2012-10-17", "2008-10-17")
_SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(root|user/.+|role/.+|assumed-role/.+|federated-user/.+)$")
_STS_ARN = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):(assumed-role|federated-user)/.+$")
_CANONICAL = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class PolicyRefused(Exception):
    """Which rule the document breaks: `kind` is one of json, version, statement, effect, principal,
    action, resource; `detail` says what and where."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return self.detail


@functools.cache
def _actions(service: str) -> frozenset[str]:
    services = load_resource(AdditionalSpecs, "Policies.json")
    return frozenset(services.get(service, {}).get("Actions", {}))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_action(action: Any, services: tuple[str, ...], where: str) -> None:
    if not isinstance(action, str):
        raise PolicyRefused("action", f"{where}: action {action!r} is not a string")
    if action == "*":
        return
    service, sep, name = action.partition(":")
    if not sep or service.lower() not in services:
        raise PolicyRefused("action", f"{where}: action {action!r} is not an action of {'/'.join(services)}")
    known = _actions(service.lower())
    if not any(fnmatch.fnmatchcase(k, name.lower()) for k in known):
        raise PolicyRefused("action", f"{where}: {action!r} matches no {service} action")


def _check_principal(principal: Any, account_id: str, where: str) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise PolicyRefused("principal", f"{where}: principal {principal!r} is neither '*' nor a map")
    for kind, values in principal.items():
        for value in _listed(values):
            if not isinstance(value, str):
                raise PolicyRefused("principal", f"{where}: {kind} principal {value!r} is not a string")
            if kind == "AWS":
                if value == "*" or _ACCOUNT.match(value) or _STS_ARN.match(value):
                    continue
                match = _IAM_ARN.match(value)
                if match is None:
                    raise PolicyRefused("principal", f"{where}: AWS principal {value!r} is not an account or IAM ARN")
                if match.group(1) == account_id and not _iam_entity_exists(account_id, value, match.group(2)):
                    raise PolicyRefused("principal", f"{where}: AWS principal {value} does not exist")
            elif kind == "Service":
                if not _SERVICE_PRINCIPAL.match(value):
                    raise PolicyRefused("principal", f"{where}: service principal {value!r} is not name.amazonaws.com")
            elif kind == "CanonicalUser":
                if not _CANONICAL.match(value):
                    raise PolicyRefused("principal", f"{where}: canonical user {value!r} is not a 64-hex-digit id")
            elif kind != "Federated":
                raise PolicyRefused("principal", f"{where}: unknown principal type {kind!r}")


def _iam_entity_exists(account_id: str, arn: str, entity: str) -> bool:
    if entity == "root":
        return True
    iam = iam_backends[account_id][get_partition("us-east-1")]
    kind, _, name = entity.partition("/")
    name = name.rsplit("/", 1)[-1]
    if kind == "role":
        return any(r.arn == arn or r.name == name for r in iam.roles.values())
    if kind == "user":
        return name in iam.users
    return True


def check(
    document: str | bytes | dict[str, Any],
    *,
    account_id: str,
    services: tuple[str, ...],
    resource_ok: Callable[[str], bool],
    resource_kind: str,
) -> dict[str, Any]:
    """The parsed document, or `PolicyRefused` naming the first rule it breaks. `resource_ok` says
    whether a `Resource` entry names (part of) the resource the policy is attached to."""
    if isinstance(document, dict):
        parsed = document
    else:
        try:
            parsed = json.loads(document)
        except (ValueError, TypeError) as err:
            raise PolicyRefused("json", f"the policy is not valid JSON: {err}") from err
    if not isinstance(parsed, dict):
        raise PolicyRefused("json", "the policy is not a JSON object")
    if "Version" in parsed and parsed["Version"] not in VERSIONS:
        raise PolicyRefused("version", f"Version {parsed['Version']!r} is not one of {', '.join(VERSIONS)}")
    statements = parsed.get("Statement")
    if not statements:
        raise PolicyRefused("statement", "Missing required field Statement")
    for index, statement in enumerate(_listed(statements)):
        where = f"Statement[{index}]" + (
            f" ({statement.get('Sid')})" if isinstance(statement, dict) and statement.get("Sid") else ""
        )
        if not isinstance(statement, dict):
            raise PolicyRefused("statement", f"{where} is not an object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyRefused("effect", f"{where}: Effect {statement.get('Effect')!r} is not Allow or Deny")
        principal_key = "Principal" if "Principal" in statement else "NotPrincipal"
        if principal_key not in statement:
            raise PolicyRefused("principal", f"{where}: Missing required field Principal")
        _check_principal(statement[principal_key], account_id, where)
        action_key = "Action" if "Action" in statement else "NotAction"
        if action_key not in statement:
            raise PolicyRefused("action", f"{where}: Missing required field Action")
        for action in _listed(statement[action_key]):
            _check_action(action, services, where)
        resource_key = "Resource" if "Resource" in statement else "NotResource"
        if resource_key not in statement:
            raise PolicyRefused("resource", f"{where}: Missing required field Resource")
        for resource in _listed(statement[resource_key]):
            if not isinstance(resource, str) or not resource_ok(resource):
                raise PolicyRefused("resource", f"{where}: resource {resource!r} is not this {resource_kind}")
    return parsed
