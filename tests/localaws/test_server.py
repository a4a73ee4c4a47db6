"""The local stack answers AWS APIs through boto3, and its control API drives faults and resets."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localaws.server import LocalAwsStack
from tests.conftest import free_port


def control(stack, route: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{stack.url}/_localaws/{route}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
    )
    context = ssl.create_default_context(cafile=stack.ca_bundle) if stack.ca_bundle else None
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.loads(response.read())


def test_starts_on_a_free_port_and_stops():
    with LocalAwsStack() as stack:
        assert stack.port > 0
        assert control(stack, "health")["status"] == "running"
        url = stack.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_localaws/health", timeout=2)


def test_health_lists_the_operations_the_stack_owns(stack):
    handled = control(stack, "health")["handled"]
    assert {"ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks"} <= set(handled)


def test_moto_services_answer_through_boto3(stack):
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="server-test-bucket")
    s3.put_object(Bucket="server-test-bucket", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="server-test-bucket", Key="a/b.txt")["Body"].read() == b"hello"

    ssm = stack.client("ssm")
    ssm.put_parameter(Name="/server-test/p", Value="v", Type="String")
    assert ssm.get_parameter(Name="/server-test/p")["Parameter"]["Value"] == "v"

    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName="server-test",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="server-test", Item={"id": {"S": "1"}})
    assert ddb.get_item(TableName="server-test", Key={"id": {"S": "1"}})["Item"]["id"]["S"] == "1"

    topic = stack.client("sns").create_topic(Name="server-test")["TopicArn"]
    assert topic.endswith(":server-test")
    stack.client("cloudwatch").put_metric_data(
        Namespace="ServerTest", MetricData=[{"MetricName": "m", "Value": 1.0, "Unit": "Count"}]
    )
    metrics = stack.client("cloudwatch").list_metrics(Namespace="ServerTest")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["m"]
    assert "Role" in stack.client("iam").create_role(RoleName="server-test", AssumeRolePolicyDocument="{}")
    sagemaker = stack.client("sagemaker")  # moto's SageMaker control plane, beside our training jobs
    sagemaker.create_model_package_group(ModelPackageGroupName="server-test")
    assert sagemaker.describe_model_package_group(ModelPackageGroupName="server-test")["ModelPackageGroupName"] == (
        "server-test"
    )
    assert sagemaker.list_training_jobs(NameContains="server-test-none")["TrainingJobSummaries"] == []


def test_cloudformation_creates_a_stack(stack):
    cfn = stack.client("cloudformation")
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "server-test-cfn"}}},
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
    }
    cfn.create_stack(StackName="server-test", TemplateBody=json.dumps(template))
    described = cfn.describe_stacks(StackName="server-test")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert described["Outputs"] == [{"OutputKey": "BucketName", "OutputValue": "server-test-cfn"}]
    stack.client("s3").head_bucket(Bucket="server-test-cfn")


def test_clients_from_plain_boto3_with_endpoint_url(stack):
    """What Airflow's connection does: a standard client with `endpoint_url` only."""
    sts = boto3.client(
        "sts",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_throttling_fault_is_retried_by_botocore(stack):
    stack.client("ssm").put_parameter(Name="/fault-test/retried", Value="ok", Type="String", Overwrite=True)
    control(stack, "faults", "POST", {"kind": "api", "service": "ssm", "operation": "GetParameter", "count": 2})
    ssm = stack.client("ssm")  # standard retry mode, 3 attempts
    assert ssm.get_parameter(Name="/fault-test/retried")["Parameter"]["Value"] == "ok"
    assert control(stack, "faults")["api"] == []


def test_throttling_beyond_the_retry_budget_surfaces(stack):
    stack.faults.arm_api("ssm", "GetParameter", count=5)
    ssm = boto3.client(
        "ssm",
        endpoint_url=stack.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    with pytest.raises(ClientError) as raised:
        ssm.get_parameter(Name="/fault-test/retried")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert stack.faults.snapshot()["api"][0]["count"] == 3


@pytest.mark.parametrize(
    ("service", "operation", "code", "call"),
    [
        ("s3", "GetObject", "NoSuchKey", lambda c: c.get_object(Bucket="server-test-bucket", Key="a/b.txt")),
        ("ecs", "DescribeTasks", "ClusterNotFoundException", lambda c: c.describe_tasks(cluster="x", tasks=["y"])),
        ("dynamodb", "GetItem", "ResourceNotFoundException", lambda c: c.get_item(TableName="t", Key={})),
    ],
)
def test_non_retryable_fault_reaches_the_caller_in_the_service_protocol(stack, service, operation, code, call):
    """rest-xml (S3) and JSON (ECS, DynamoDB) errors parse into the modelled exception."""
    stack.client("s3").create_bucket(Bucket="server-test-bucket")
    control(stack, "faults", "POST", {"service": service, "operation": operation, "error_code": code})
    client = stack.client(service)
    with pytest.raises(ClientError) as raised:
        call(client)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_control_api_rejects_bad_fault_specs(stack):
    with pytest.raises(urllib.error.HTTPError) as raised:
        control(stack, "faults", "POST", {"service": "s3", "operation": "GetObject", "count": 0})
    assert raised.value.code == 400
    assert "count must be at least 1" in raised.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as raised:
        control(stack, "faults", "POST", {"service": "s3"})
    assert raised.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as raised:
        control(stack, "nowhere")
    assert raised.value.code == 404


def test_runs_as_a_process_resets_on_request_and_stops_on_sigterm():
    """`python -m localaws` serves the stack, resets on request, stops promptly on SIGTERM.

    A separate process, because moto keeps its state per process: a reset here would also wipe
    the session's stack.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localaws", "--port", str(port), "--no-tls"],  # the lifecycle, over plain HTTP
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert process.stdout.readline().strip() == f"local AWS stack on {url}"
        root = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # the stack's own
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **root)
        s3.create_bucket(Bucket="reset-test")
        remote = type("Remote", (), {"url": url, "ca_bundle": None})()
        control(remote, "faults", "POST", {"service": "s3", "operation": "ListObjectsV2"})
        assert control(remote, "reset", "POST") == {"status": "reset"}
        assert control(remote, "faults") == {"api": [], "jobs": [], "models": []}
        assert s3.list_buckets()["Buckets"] == []
    finally:
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert time.monotonic() - signalled < 5, "SIGTERM took too long to stop the stack"
    assert output.strip().endswith("stopped")
