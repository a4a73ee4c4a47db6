"""The resource-based policy that governs a resource, read from moto's backends.

S3 bucket policies, SNS topic policies, SQS queue policies, KMS key policies, Lambda function
policies and, for `sts:AssumeRole`, the role's trust policy. KMS key policies and trust policies
must allow the request themselves (IAM's two exceptions); the others add to identity policies.
"""

from __future__ import annotations

import json
from typing import Any

PARTITION = "aws"


def policy_for(action: str, resource: str, account_id: str, region: str) -> tuple[dict[str, Any] | None, bool]:
    """(the resource's policy or None, whether that policy must allow the request itself)."""
    if not resource.startswith("arn:"):
        return None, False
    parts = resource.split(":", 5)
    service, arn_region, arn_account, rest = parts[2], parts[3] or region, parts[4] or account_id, parts[5]
    try:
        if action.lower() == "sts:assumerole" and service == "iam":
            return _trust_policy(resource, arn_account), True
        if service == "s3":
            return _s3(rest.split("/", 1)[0], arn_account), False
        if service == "sns":
            return _sns(resource, arn_account, arn_region), False
        if service == "sqs":
            return _sqs(rest, arn_account, arn_region), False
        if service == "kms" and rest.startswith("key/"):
            return _kms(rest[len("key/") :], arn_account, arn_region), True
        if service == "lambda" and rest.startswith("function:"):
            return _lambda(rest.split(":")[1], arn_account, arn_region), False
    except LookupError:
        return None, action.lower() == "sts:assumerole" or service == "kms"
    return None, False


def _json(document: Any) -> dict[str, Any] | None:
    if not document:
        return None
    if isinstance(document, bytes):
        document = document.decode("utf-8")
    return json.loads(document) if isinstance(document, str) else dict(document)


def _trust_policy(role_arn: str, account_id: str) -> dict[str, Any] | None:
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id][PARTITION].get_role_by_arn(role_arn)
    except Exception as err:  # no such role: nothing trusts the caller
        raise LookupError(role_arn) from err
    return _json(role.assume_role_policy_document)


def _s3(bucket: str, account_id: str) -> dict[str, Any] | None:
    from moto.s3.models import s3_backends

    found = s3_backends[account_id][PARTITION].buckets.get(bucket)
    return _json(found.policy) if found is not None else None


def _sns(topic_arn: str, account_id: str, region: str) -> dict[str, Any] | None:
    from moto.sns.models import sns_backends

    topic = sns_backends[account_id][region].topics.get(topic_arn)
    return topic._policy_json if topic is not None else None  # moto keeps it parsed


def _sqs(name: str, account_id: str, region: str) -> dict[str, Any] | None:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account_id][region].queues.get(name)
    return _json(queue.policy) if queue is not None else None


def _kms(key_id: str, account_id: str, region: str) -> dict[str, Any] | None:
    from moto.kms.models import kms_backends

    key = kms_backends[account_id][region].keys.get(key_id)
    if key is None:
        raise LookupError(key_id)
    return _json(key.policy)


def _lambda(name: str, account_id: str, region: str) -> dict[str, Any] | None:
    from moto.awslambda.models import lambda_backends

    try:
        return _json(lambda_backends[account_id][region].get_policy(name, None))
    except Exception:  # a function with no policy statement, or none at all
        return None
