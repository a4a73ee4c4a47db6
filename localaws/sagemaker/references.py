"""What SageMaker checks about the resources a request names: that they exist in this account
(IAM roles, VPCs, subnets, security groups, KMS keys, S3 buckets, read from moto's backends) and
that an execution role trusts SageMaker. Each check raises SageMaker's `ValidationException`."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from localaws.wire import AwsError

ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


def invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def missing(field: str) -> AwsError:
    return invalid(
        f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    )


def matches(value: Any, pattern: str, field: str, max_length: int | None = None) -> str:
    """`value` if it is a string fully matching the model's `pattern` (and length), else the
    `ValidationException` botocore's model constraint names."""
    if not isinstance(value, str) or not re.fullmatch(pattern, value) or (max_length and len(value) > max_length):
        raise invalid(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
            + (f" and have length less than or equal to {max_length}" if max_length else "")
        )
    return value


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise invalid(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def role(account_id: str, arn: Any, field: str, trusted_by: str | None = "sagemaker.amazonaws.com"):
    """The IAM role `arn` names; it must exist and, if `trusted_by`, let that service assume it."""
    matches(arn, ROLE_ARN.pattern[1:-1], field, 2048)
    iam = iam_backends[account_id][get_partition("us-east-1")]
    found = next((r for r in iam.get_roles() if r.arn == arn), None)
    if found is None:
        raise invalid(f"{field}: role {arn} does not exist.")
    if trusted_by and not _trusts(found.assume_role_policy_document, trusted_by):
        raise invalid(f"{field}: SageMaker could not assume role {arn}: its trust policy does not allow {trusted_by}.")
    return found


def _trusts(document: Any, service: str) -> bool:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        services = (
            (statement.get("Principal") or {}).get("Service", [])
            if isinstance(statement.get("Principal"), dict)
            else []
        )
        services = services if isinstance(services, list) else [services]
        if (
            statement.get("Effect") == "Allow"
            and service in services
            and {"sts:AssumeRole", "sts:*", "*"} & set(actions)
        ):
            return True
    return False


def vpc(account_id: str, region: str, vpc_id: Any, field: str = "VpcId"):
    matches(vpc_id, r"[-0-9a-zA-Z]+", field, 32)
    found = ec2_backends[account_id][region].vpcs.get(vpc_id)
    if found is None:
        raise invalid(f"{field}: VPC {vpc_id} does not exist.")
    return found


def subnets(account_id: str, region: str, subnet_ids: Any, vpc_id: str, field: str = "SubnetIds") -> list[str]:
    if not isinstance(subnet_ids, list) or not 1 <= len(subnet_ids) <= 16:
        raise invalid(f"{field}: between 1 and 16 subnets are required.")
    ec2 = ec2_backends[account_id][region]
    for subnet_id in subnet_ids:
        matches(subnet_id, r"[-0-9a-zA-Z]+", f"{field}.member", 32)
        found = next((s for zone in ec2.subnets.values() for s in zone.values() if s.id == subnet_id), None)
        if found is None:
            raise invalid(f"{field}: subnet {subnet_id} does not exist.")
        if found.vpc_id != vpc_id:
            raise invalid(f"{field}: subnet {subnet_id} is in {found.vpc_id}, not in {vpc_id}.")
    return list(subnet_ids)


def security_groups(
    account_id: str, region: str, group_ids: Any, vpc_id: str | None, field: str, most: int
) -> list[str]:
    if not isinstance(group_ids, list) or len(group_ids) > most:
        raise invalid(f"{field}: at most {most} security groups.")
    ec2 = ec2_backends[account_id][region]
    for group_id in group_ids:
        matches(group_id, r"[-0-9a-zA-Z]+", f"{field}.member", 32)
        found = ec2.get_security_group_from_id(group_id)
        if found is None:
            raise invalid(f"{field}: security group {group_id} does not exist.")
        if vpc_id and found.vpc_id != vpc_id:
            raise invalid(f"{field}: security group {group_id} is in {found.vpc_id}, not in {vpc_id}.")
    return list(group_ids)


def kms_key(account_id: str, region: str, key_id: Any, field: str) -> str:
    matches(key_id, r"[a-zA-Z0-9:/_-]*", field, 2048)
    kms = kms_backends[account_id][region]
    try:
        key = kms.describe_key(key_id)
    except Exception:
        raise invalid(f"{field}: KMS key {key_id} does not exist.") from None
    if key.key_state != "Enabled":
        raise invalid(f"{field}: KMS key {key_id} is {key.key_state}.")
    return key_id


def bucket_of(account_id: str, region: str, uri: Any, field: str) -> str:
    """The bucket an `s3://bucket/prefix` URI names, which must exist in this account."""
    matches(uri, r"(https|s3)://([^/]+)/?(.*)", field, 1024)
    match = S3_URI.match(uri)
    if match is None:
        raise invalid(f"{field}: {uri} is not an s3:// URI of a general purpose bucket.")
    bucket = match.group(1)
    if bucket not in s3_backends[account_id][get_partition(region)].buckets:
        raise invalid(f"{field}: bucket {bucket} does not exist in account {account_id}.")
    return bucket
