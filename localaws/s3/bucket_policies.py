"""Bucket policies as S3 takes them: `PutBucketPolicy` refuses a document S3 refuses
(`MalformedPolicy`: invalid JSON, a resource outside the bucket, an action that is not an S3
action, a principal that is malformed or does not exist) and a public policy on a bucket whose
public access block sets `BlockPublicPolicy` (`AccessDenied`), and `AWS::S3::BucketPolicy` puts
the policy through the same call, so what the stacks attach is exactly what moto's
`get_bucket_policy` (and anything evaluating requests against it) reads.

S3's messages ("Policy has invalid resource", ...) are followed by what was wrong and where.

Once stored, moto's S3 would apply a bucket's policy to object requests itself, seeing only
`Principal: "*"` statements and ignoring conditions (the templates' `DenyInsecureTransport` then
denied every request). The stack's IAM engine evaluates bucket policies for every request, with the
caller and the request's transport, so moto's partial check is turned off (`_get_permission`).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.access_control import PermissionResult
from moto.s3 import models as s3_models
from moto.s3.exceptions import S3ClientError
from moto.s3.utils import bucket_policy_is_public
from moto.utilities.utils import get_partition

from localaws import resource_policies
from localaws.cloudformation import resource_types, schemas

# S3's own messages for each broken rule.
MESSAGES = {
    "json": "This policy contains invalid Json",
    "resource": "Policy has invalid resource",
    "action": "Policy has invalid action",
    "principal": "Invalid principal in policy",
    "effect": "Invalid effect",
    "version": "Invalid policy version",
    "statement": "Missing required field Statement",
}


class MalformedPolicy(S3ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("MalformedPolicy", message)


class PublicPolicyDenied(S3ClientError):
    code = "AccessDenied"

    def __init__(self) -> None:
        super().__init__("AccessDenied", "Access Denied")
        self.http_status_code = 403


def s3_backend(account_id: str, region: str):
    return s3_models.s3_backends[account_id][get_partition(region)]


def check(bucket_name: str, policy: str | bytes, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The parsed policy, or S3's `MalformedPolicy` naming the broken rule and where."""
    bucket_arn = f"arn:{partition}:s3:::{bucket_name}"

    def in_bucket(resource: str) -> bool:
        return (
            fnmatch.fnmatchcase(bucket_arn, resource)
            or fnmatch.fnmatchcase(bucket_arn + "/key", resource)
            or resource.startswith(bucket_arn + "/")
        )

    try:
        return resource_policies.check(
            policy, account_id=account_id, services=("s3",), resource_ok=in_bucket, resource_kind="bucket"
        )
    except resource_policies.PolicyRefused as refused:
        raise MalformedPolicy(f"{MESSAGES[refused.kind]} ({refused.detail})") from None


def _put_bucket_policy(original):
    def put_bucket_policy(self, bucket_name: str, policy: bytes) -> None:
        bucket = self.get_bucket(bucket_name)
        check(bucket_name, policy, self.account_id, self.partition)
        block = bucket.public_access_block
        if block is not None and block.block_public_policy and bucket_policy_is_public(policy):
            raise PublicPolicyDenied()
        original(self, bucket_name, policy)

    return put_bucket_policy


def _get_permission(self, action: str, resource: str) -> PermissionResult:
    """moto's own object-level check sees only `Principal: "*"` statements and no conditions; the
    stack's IAM engine (`localaws.iam`) evaluates every request against the bucket policy with the
    caller's identity and request context, so moto's check stays out of the way."""
    return PermissionResult.NEUTRAL


class BucketPolicy(CloudFormationModel):
    """`AWS::S3::BucketPolicy`: the bucket's policy (its `Ref` is the bucket name, the schema's
    primary identifier)."""

    def __init__(self, bucket_name: str) -> None:
        self.bucket_name = bucket_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _put(properties: dict[str, Any], account_id: str, region_name: str) -> str:
        schemas.check("AWS::S3::BucketPolicy", properties)
        document = properties["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        s3_backend(account_id, region_name).put_bucket_policy(properties["Bucket"], text.encode())
        return properties["Bucket"]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(cls._put(cloudformation_json.get("Properties", {}), account_id, region_name))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        bucket = cls._put(cloudformation_json.get("Properties", {}), account_id, region_name)
        if bucket != original_resource.bucket_name:  # Bucket is create-only: a replacement
            original_resource.delete(account_id, region_name)
        return cls(bucket)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        cls(resource_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = s3_backend(account_id, region_name)
        if self.bucket_name in backend.buckets:
            backend.delete_bucket_policy(self.bucket_name)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    s3_models.S3Backend.put_bucket_policy = _put_bucket_policy(s3_models.S3Backend.put_bucket_policy)
    s3_models.FakeBucket.get_permission = _get_permission
    resource_types.refresh()
    _installed = True
