"""Who is calling: the identity behind a request's SigV4 access key, looked up in moto's IAM and STS.

The stack's own credentials (access key `testing`, or a 12-digit key, moto's convention for "the
account", see `wire.account_id_for`) are the account root: unrestricted, as root is on AWS; the
harness, the tests' setup and the stack's own handlers (`stack.client`) use them. An IAM user's
access key (moto's iam backend) or an STS session (moto's sts backend) resolves to that identity
and its policies; any other key is refused as AWS refuses an unknown key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from moto.iam.models import get_account_id_from, iam_backends
from moto.sts.models import sts_backends

from localaws.wire import account_id_for

PARTITION = "aws"
ROOT_ACCESS_KEY = "testing"


class UnknownCredentials(Exception):
    """The key is nobody's (`reason` "InvalidId"), or its session token is not the key's ("InvalidToken")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """The caller. `arn` is what AWS names in errors (the session ARN for an assumed role);
    `role_arn` is the IAM role behind a session (None for users and root)."""

    arn: str
    account_id: str
    kind: str  # "root" | "user" | "assumed-role" | "service"
    name: str = ""
    role_arn: str | None = None
    session_name: str | None = None
    service: str | None = None  # for kind "service": the service principal, e.g. ecs-tasks.amazonaws.com
    policies: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    # A session policy passed to AssumeRole: the session may do only what both it and the role allow.
    session_policies: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def identity_arn(self) -> str:
        """The IAM identity (role ARN for a session): what the exercised list records."""
        return self.role_arn or self.arn


def is_root_key(access_key: str) -> bool:
    return access_key == ROOT_ACCESS_KEY or re.fullmatch(r"\d{12}", access_key) is not None


def root(account_id: str) -> Principal:
    return Principal(arn=f"arn:{PARTITION}:iam::{account_id}:root", account_id=account_id, kind="root")


def service_principal(service: str, account_id: str) -> Principal:
    """An AWS service acting for the account (e.g. assuming a role for a task it runs)."""
    return Principal(arn=service, account_id=account_id, kind="service", name=service, service=service)


def role_session(role_arn: str, session_name: str) -> Principal:
    """A session of `role_arn` a service holds for its own work (an ECS agent pulling the image
    with the execution role, SageMaker reading training data with the execution role)."""
    account_id = role_arn.split(":")[4]
    try:
        role = iam_backends[account_id][PARTITION].get_role_by_arn(role_arn)
    except Exception:  # no such role: a session with no permissions
        role = None
    name = role_arn.split("/")[-1]
    return Principal(
        arn=f"arn:{PARTITION}:sts::{account_id}:assumed-role/{name}/{session_name}",
        account_id=account_id,
        kind="assumed-role",
        name=name,
        role_arn=role.arn if role is not None else role_arn,
        session_name=session_name,
        policies=_role_policies(role),
    )


def resolve(access_key: str, session_token: str | None) -> Principal:
    """The principal whose key signed the request; raises UnknownCredentials as AWS would refuse it."""
    if is_root_key(access_key):
        return root(account_id_for(access_key))
    account_id = get_account_id_from(access_key)
    iam = iam_backends[account_id][PARTITION]
    key = iam.access_keys.get(access_key)
    if key is None:
        raise UnknownCredentials("InvalidId")
    if key.role_arn:  # a session STS issued
        session = sts_backends[account_id][PARTITION].get_assumed_role_from_access_key(access_key)
        if session is None:
            raise UnknownCredentials("InvalidId")
        if session_token != session.session_token:
            raise UnknownCredentials("InvalidToken")
        role_name = session.role_arn.split("/")[-1]
        try:
            role = iam.get_role_by_arn(session.role_arn)
        except Exception:  # the role was deleted: the session has no permissions left
            role = None
        return Principal(
            arn=f"arn:{PARTITION}:sts::{account_id}:assumed-role/{role_name}/{session.session_name}",
            account_id=account_id,
            kind="assumed-role",
            name=role_name,
            role_arn=role.arn if role is not None else session.role_arn,
            session_name=session.session_name,
            policies=_role_policies(role),
            session_policies=(_load(session.policy),) if session.policy else (),
        )
    if session_token:
        raise UnknownCredentials("InvalidToken")
    if key.status != "Active":
        raise UnknownCredentials("InvalidId")
    user = iam.get_user(key.user_name)
    return Principal(
        arn=user.arn,
        account_id=account_id,
        kind="user",
        name=user.name,
        policies=_user_policies(iam, user),
    )


def _documents(inline: dict[str, Any], managed: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    docs = [_load(doc) for doc in inline.values()]
    for policy in managed.values():
        version = next(v for v in policy.versions if v.is_default)
        docs.append(_load(version.document))
    return tuple(docs)


def _role_policies(role: Any) -> tuple[dict[str, Any], ...]:
    return () if role is None else _documents(role.policies, role.managed_policies)


def _user_policies(iam: Any, user: Any) -> tuple[dict[str, Any], ...]:
    docs = _documents(user.policies, user.managed_policies)
    for group in iam.get_groups_for_user(user.name):
        docs += _documents(group.policies, group.managed_policies)
    return docs


def _load(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    from urllib.parse import unquote

    text = document if document.lstrip().startswith("{") else unquote(document)
    return json.loads(text)
