"""IAM's policy evaluation logic, for principals and resources of one account.

As the IAM User Guide ("Policy evaluation logic", "IAM JSON policy elements") states it: an
explicit Deny in any applicable policy wins; otherwise an Allow in an identity-based policy or in
the resource's policy (naming the principal) allows; otherwise the request is implicitly denied.
Role trust policies and KMS key policies are the exceptions: the resource policy must allow, either
naming the principal or naming the account (then the identity policy must allow as well).

Elements: Effect, Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource
(case-sensitive), Principal/NotPrincipal (`*`, account ids and `:root` ARNs, user and role ARNs,
assumed-role session ARNs, Service principals), Condition with every operator of the grammar
(String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress, Arn*, Null, the `...IfExists` suffix and
the ForAllValues/ForAnyValue qualifiers) and policy variables (`${aws:username}`, ...). No library
fits: policyuniverse parses and expands policies but does not evaluate requests, and moto's own
`IAMPolicy` ignores resources for non-S3 calls and most of the condition grammar.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localaws.iam.principals import Principal

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """What is evaluated: `context` maps condition keys (any case) to their values in the request."""

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @functools.cached_property
    def keys(self) -> dict[str, list[str]]:
        return {k.lower(): [str(v) for v in vs] for k, vs in self.context.items() if vs is not None}


@dataclass(frozen=True)
class Decision:
    effect: str  # ALLOW | EXPLICIT_DENY | IMPLICIT_DENY
    reason: str = ""  # which policy type decided: the tail of AWS's AccessDenied message

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


def evaluate(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None = None,
    *,
    resource_policy_must_allow: bool = False,
    session_policies: Sequence[Mapping[str, Any]] = (),
) -> Decision:
    """The decision for one (principal, action, resource) request."""
    identity = [s for p in identity_policies for s in statements(p)]
    resource = statements(resource_policy) if resource_policy else []
    session = [s for p in session_policies for s in statements(p)]
    # 1. Explicit deny anywhere.
    if any(s.get("Effect") == "Deny" and applies(s, request, with_principal=False) for s in identity):
        return Decision(EXPLICIT_DENY, "with an explicit deny in an identity-based policy")
    if any(s.get("Effect") == "Deny" and applies(s, request, with_principal=True) for s in resource):
        return Decision(EXPLICIT_DENY, "with an explicit deny in a resource-based policy")
    if any(s.get("Effect") == "Deny" and applies(s, request, with_principal=False) for s in session):
        return Decision(EXPLICIT_DENY, "with an explicit deny in a session policy")
    # 2. Allows: a session policy narrows what the role's identity policies allow.
    identity_allows = any(s.get("Effect") == "Allow" and applies(s, request, with_principal=False) for s in identity)
    if session and identity_allows:
        identity_allows = any(s.get("Effect") == "Allow" and applies(s, request, with_principal=False) for s in session)
    matches = {
        principal_match(s, request)
        for s in resource
        if s.get("Effect") == "Allow" and applies(s, request, with_principal=False)
    }
    direct, account = "direct" in matches, "account" in matches
    if resource_policy_must_allow:
        if direct or (account and identity_allows):
            return Decision(ALLOW)
        if account:
            return Decision(IMPLICIT_DENY, f"because no identity-based policy allows the {request.action} action")
        return Decision(IMPLICIT_DENY, f"because no resource-based policy allows the {request.action} action")
    if identity_allows or direct:
        return Decision(ALLOW)
    return Decision(IMPLICIT_DENY, f"because no identity-based policy allows the {request.action} action")


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    body = policy.get("Statement", [])
    return [body] if isinstance(body, Mapping) else list(body)


def applies(statement: Mapping[str, Any], request: Request, *, with_principal: bool) -> bool:
    """Whether the statement's action, resource, (principal) and conditions all match the request."""
    if "Action" in statement:
        if not any(_action_matches(p, request.action) for p in _list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_action_matches(p, request.action) for p in _list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(_resource_matches(_substitute(p, request), request.resource) for p in _list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(
        _resource_matches(_substitute(p, request), request.resource) for p in _list(statement["NotResource"])
    ):
        return False
    # (A trust policy names no resource: the role it is attached to is the resource.)
    if with_principal and principal_match(statement, request) is None:
        return False
    return conditions_hold(statement.get("Condition", {}), request)


# --- principals ----------------------------------------------------------------------------------
def principal_match(statement: Mapping[str, Any], request: Request) -> str | None:
    """ "direct" when the statement names the caller (or everyone), "account" when it names the
    caller's account, None when it does not apply to the caller."""
    if "Principal" in statement:
        return _names(statement["Principal"], request.principal)
    if "NotPrincipal" in statement:
        return None if _names(statement["NotPrincipal"], request.principal) else "direct"
    return "direct"  # identity policies have no principal: they are the caller's own


def _names(element: Any, principal: Principal) -> str | None:
    if element == "*":
        return "direct"
    if not isinstance(element, Mapping):
        return None
    found = None
    for kind, values in element.items():
        for value in _list(values):
            if kind == "Service":
                if principal.service is not None and value == principal.service:
                    return "direct"
            elif kind == "AWS":
                if value == "*":
                    return "direct"
                if principal.service is not None:
                    continue
                if value in (principal.arn, principal.role_arn) and value:
                    return "direct"
                if principal.kind == "user" and value == principal.arn:
                    return "direct"
                if value in (principal.account_id, f"arn:aws:iam::{principal.account_id}:root"):
                    found = "direct" if principal.is_root else "account"
    return found


# --- actions and resources -----------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_matches(pattern: str, action: str) -> bool:
    return bool(_glob(pattern, True).match(action))


def _resource_matches(pattern: str | None, resource: str) -> bool:
    if pattern is None:
        return False
    return pattern == "*" or bool(_glob(pattern, False).match(resource))


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(text: Any, request: Request) -> str | None:
    """Policy variables: `${key}` takes the request's single value of that key; `${*}`, `${?}`,
    `${$}` are the literal characters. A variable the request lacks makes the element not match."""
    text = str(text)
    if "${" not in text:
        return text
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        key = match.group(1)
        if key in ("*", "?", "$"):
            return key
        key, _, default = key.partition(", ")
        values = request.keys.get(key.strip().lower())
        if values and len(values) == 1:
            return values[0]
        if default:
            return default.strip().strip("'")
        missing = True
        return ""

    result = _VARIABLE.sub(value, text)
    return None if missing else result


# --- conditions ----------------------------------------------------------------------------------
def conditions_hold(condition: Mapping[str, Any], request: Request) -> bool:
    """Every operator block holds (AND); within one, every key holds (AND); a key holds when any
    policy value matches (OR) — or, for negated operators, when no value matches."""
    for operator, block in condition.items():
        for key, expected in block.items():
            if not _holds(operator, key, [_substitute(v, request) for v in _list(expected)], request):
                return False
    return True


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def _holds(operator: str, key: str, expected: list[str | None], request: Request) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    actual = request.keys.get(key.lower())
    present = bool(actual)
    if operator == "Null":
        return any(str(v).lower() == ("false" if present else "true") for v in expected)
    if not present:
        if if_exists or qualifier == "ForAllValues":
            return True
        return operator in _NEGATED
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    compare = _COMPARE.get(base)
    if compare is None:
        raise ValueError(f"unsupported condition operator {operator!r} in a policy")
    values = [v for v in expected if v is not None]

    def matches(value: str) -> bool:
        return any(compare(value, e) for e in values)

    if qualifier == "ForAllValues":
        return all(matches(a) != negated for a in actual)
    if negated:
        return not any(matches(a) for a in actual)
    return any(matches(a) for a in actual)


def _num(value: str) -> float:
    return float(value)


def _date(value: str) -> datetime:
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return datetime.fromtimestamp(float(value), tz=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _arn_like(actual: str, pattern: str) -> bool:
    # Each of the six ARN segments is matched on its own: a wildcard does not cross a colon
    # except in the resource segment, which takes the rest.
    a, p = actual.split(":", 5), pattern.split(":", 5)
    if len(a) != 6 or len(p) != 6:
        return pattern == "*" or actual == pattern
    return all(_glob(ps, False).match(as_) for ps, as_ in zip(p, a, strict=True))


def _ip(actual: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


_COMPARE: dict[str, Any] = {
    "StringEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: bool(_glob(e, False).match(a)),
    "NumericEquals": lambda a, e: _num(a) == _num(e),
    "NumericLessThan": lambda a, e: _num(a) < _num(e),
    "NumericLessThanEquals": lambda a, e: _num(a) <= _num(e),
    "NumericGreaterThan": lambda a, e: _num(a) > _num(e),
    "NumericGreaterThanEquals": lambda a, e: _num(a) >= _num(e),
    "DateEquals": lambda a, e: _date(a) == _date(e),
    "DateLessThan": lambda a, e: _date(a) < _date(e),
    "DateLessThanEquals": lambda a, e: _date(a) <= _date(e),
    "DateGreaterThan": lambda a, e: _date(a) > _date(e),
    "DateGreaterThanEquals": lambda a, e: _date(a) >= _date(e),
    "Bool": lambda a, e: a.lower() == str(e).lower(),
    "BinaryEquals": lambda a, e: base64.b64decode(a) == base64.b64decode(e),
    "IpAddress": _ip,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
}
