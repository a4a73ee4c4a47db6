"""The stack speaks HTTPS like AWS endpoints, so bucket policies' `aws:SecureTransport` denies bite
only on plain HTTP (`LocalAwsStack(tls=False)`)."""

from __future__ import annotations

import json
import ssl
import urllib.request

import boto3
import certifi
import pytest
from botocore.exceptions import ClientError, SSLError

from localaws.server import LocalAwsStack

BUCKET = "tls-test-bucket"
ROLE = "tls-test-writer"


def session_client(url: str, credentials: dict, verify) -> object:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        verify=verify,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture(scope="module")
def writer(stack) -> dict:
    """A bucket whose policy denies insecure transport, and a role allowed to write it."""
    s3, iam = stack.client("s3"), stack.client("iam")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=ROLE,
        PolicyName="write",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}],
            }
        ),
    )
    role_arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    return stack.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="tls-test")["Credentials"]


def test_the_stack_serves_https_with_a_certificate_from_its_own_ca(stack):
    assert stack.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=stack.ca_bundle)
    with urllib.request.urlopen(f"{stack.url}/_localaws/health", context=context, timeout=10) as response:
        assert json.loads(response.read())["status"] == "running"
    untrusting = boto3.client(
        "s3",
        endpoint_url=stack.url,
        region_name="us-east-1",
        verify=certifi.where(),  # the public CAs only
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(SSLError):  # a client that does not trust the stack's CA refuses it, as it should
        untrusting.list_buckets()


def test_over_https_the_role_writes(stack, writer):
    session_client(stack.url, writer, stack.ca_bundle).put_object(Bucket=BUCKET, Key="a.txt", Body=b"x")


def test_over_plain_http_the_bucket_policy_denies_the_same_call(stack, writer):
    if not stack.enforce_iam:
        pytest.skip("IAM enforcement is off (LOCALAWS_IAM=off)")
    with LocalAwsStack(tls=False) as plain:  # the same moto state, served without TLS
        assert plain.url.startswith("http://") and plain.ca_bundle is None
        with pytest.raises(ClientError) as denied:
            session_client(plain.url, writer, True).put_object(Bucket=BUCKET, Key="b.txt", Body=b"x")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert "s3:PutObject" in error["Message"] and ROLE in error["Message"]
