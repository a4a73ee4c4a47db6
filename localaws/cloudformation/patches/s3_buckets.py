"""`AWS::S3::Bucket` as on AWS: a stack cannot adopt an existing bucket (a Retain-ed one from a
deleted stack, say), and the bucket gets the public access block and versioning the template sets
(moto's CloudFormation ignores both)."""

from __future__ import annotations

from moto.s3 import models as s3_models
from moto.utilities.utils import get_partition


class BucketExists(Exception):
    pass


def _create_bucket(original):
    """As on AWS: a stack cannot adopt an existing bucket (a Retain-ed one from a deleted stack,
    say), and the bucket gets the public access block and versioning the template sets."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        backend = s3_models.s3_backends[account_id][get_partition(region_name)]
        if resource_name in backend.buckets:
            raise BucketExists(f"{resource_name} already exists")
        bucket = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        if "PublicAccessBlockConfiguration" in properties:
            block = {k: str(v).lower() for k, v in properties["PublicAccessBlockConfiguration"].items()}
            backend.put_public_access_block(resource_name, block)
        if "VersioningConfiguration" in properties:
            backend.put_bucket_versioning(resource_name, properties["VersioningConfiguration"]["Status"])
        return bucket

    return classmethod(create)


def install() -> None:
    s3_models.FakeBucket.create_from_cloudformation_json = _create_bucket(
        s3_models.FakeBucket.create_from_cloudformation_json
    )
