"""Local SageMaker Processing jobs: the assessment's entry point really runs, as its execution role."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError, WaiterError

from include.images import framework_image
from include.training import runproc
from include.training.package import REQUIRES_PYTHON, build_sourcedir
from tests.conftest import service_role

FRAMEWORK_IMAGE = framework_image("us-east-1", REQUIRES_PYTHON)
PY39_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
LOGS = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/ProcessingJobs*",
}


def interactions(seed: int, n: int = 600, country: str = "United Kingdom") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    quantity = rng.integers(1, 12, n)
    price = rng.uniform(0.5, 5.0, n)
    return pd.DataFrame(
        {
            "user_id": rng.choice([f"u{i}" for i in range(40)], n),
            "item_id": rng.choice([f"i{i}" for i in range(30)], n),
            "timestamp": 1_309_478_400 + rng.integers(0, 30 * 86_400, n),
            "quantity": quantity,
            "unit_price": price,
            "event_value": quantity * price,
            "country": country,
        }
    )


@pytest.fixture(scope="module")
def data(stack, tmp_path_factory) -> dict[str, str]:
    """A bucket with two reference months, a drifted current month, the code; the roles jobs run as."""
    s3 = stack.client("s3")
    bucket = f"processing-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("frames")
    for key, frame in (
        ("data/reference/month=2011-07/interactions.parquet", interactions(1)),
        ("data/reference/month=2011-08/interactions.parquet", interactions(2)),
        ("data/current/interactions.parquet", interactions(3, country="France")),
    ):
        frame.to_parquet(root / "f.parquet")
        s3.upload_file(str(root / "f.parquet"), bucket, key)
    s3.put_object(Bucket=bucket, Key="data/not-parquet/readme.txt", Body=b"nothing to assess")
    body, digest = build_sourcedir()
    s3.put_object(Bucket=bucket, Key=f"code/{digest}/sourcedir.tar.gz", Body=body)
    s3.put_object(Bucket=bucket, Key="code/entrypoint/runproc.py", Body=Path(runproc.__file__).read_bytes())
    read = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
    ]
    write = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    return {
        "bucket": bucket,
        "code": f"s3://{bucket}/code/{digest}/",
        "role": service_role(stack, "processing-execution", "sagemaker.amazonaws.com", [*read, write, LOGS]),
        "read_only": service_role(stack, "processing-read-only", "sagemaker.amazonaws.com", [*read, LOGS]),
        "no_s3": service_role(stack, "processing-no-s3", "sagemaker.amazonaws.com", [LOGS]),
    }


def request(data: dict, name: str, *, reference: str = "data/reference/", role: str | None = None, **app) -> dict:
    bucket = data["bucket"]
    inputs = {
        "entrypoint": f"s3://{bucket}/code/entrypoint/",
        "code": data["code"],
        "reference": f"s3://{bucket}/{reference}",
        "current": f"s3://{bucket}/data/current/",
    }
    return {
        "ProcessingJobName": name,
        "RoleArn": role or data["role"],
        "AppSpecification": {
            "ImageUri": FRAMEWORK_IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/entrypoint/runproc.py"],
            "ContainerArguments": [
                "/opt/ml/processing/input/code/sourcedir.tar.gz",
                "include.training.assess_job",
                "--reference",
                "/opt/ml/processing/input/reference",
                "--current",
                "/opt/ml/processing/input/current",
                "--output",
                "/opt/ml/processing/output",
                "--exit-message",
                "/opt/ml/output/message",
            ],
            **app,
        },
        "ProcessingInputs": [
            {
                "InputName": input_name,
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": f"/opt/ml/processing/input/{input_name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
            for input_name, uri in inputs.items()
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "assessment",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/assessments/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def wait(sagemaker, name: str) -> dict:
    waiter = sagemaker.get_waiter("processing_job_completed_or_stopped")
    with contextlib.suppress(WaiterError):  # raised on Failed: the description says why
        waiter.wait(ProcessingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    return sagemaker.describe_processing_job(ProcessingJobName=name)


def test_a_processing_job_runs_the_assessment_and_uploads_its_outputs(stack, data):
    sagemaker, s3 = stack.client("sagemaker"), stack.client("s3")
    name = f"assess-{uuid.uuid4().hex[:8]}"
    arn = sagemaker.create_processing_job(**request(data, name))["ProcessingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}"
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    described = wait(sagemaker, name)
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    assert "FailureReason" not in described and "ExitMessage" not in described
    assert described["ProcessingEndTime"] >= described["ProcessingStartTime"] >= described["CreationTime"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=data["bucket"], Prefix=f"assessments/{name}/")["Contents"]}
    assert keys == {f"assessments/{name}/{f}" for f in ("assessment.json", "drift.csv", "drift.png")}
    report = json.loads(s3.get_object(Bucket=data["bucket"], Key=f"assessments/{name}/assessment.json")["Body"].read())
    assert report["reference_rows"] == 1200 and report["current_rows"] == 600
    country = next(f for f in report["drift"]["features"] if f["feature"] == "country")
    assert country["drifted"] and country["method"] == "jensenshannon"
    streams = stack.client("logs").describe_log_streams(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamNamePrefix=name
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    events = stack.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=streams[0]["logStreamName"]
    )["events"]
    assert any("features drifted" in e["message"] for e in events)
    listed = sagemaker.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"]
    assert [(j["ProcessingJobName"], j["ProcessingJobStatus"]) for j in listed] == [(name, "Completed")]


def test_a_failing_container_gives_its_exit_message_as_the_reason(stack, data):
    sagemaker, events, sqs = stack.client("sagemaker"), stack.client("events"), stack.client("sqs")
    name = f"broken-{uuid.uuid4().hex[:8]}"
    # SageMaker sends its state changes to EventBridge: a rule on this job's failure, to a queue
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobStatus": ["Failed"], "ProcessingJobName": [name]},
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    sagemaker.create_processing_job(**request(data, name, reference="data/not-parquet/"))
    described = wait(sagemaker, name)
    assert described["ProcessingJobStatus"] == "Failed"
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    [event] = [json.loads(m["Body"]) for m in received]
    assert event["detail"]["ProcessingJobStatus"] == "Failed" and event["detail"]["FailureReason"]
    assert described["ExitMessage"].startswith("InputError: no .parquet files under ")
    assert described["FailureReason"] == f"AlgorithmError: {described['ExitMessage']}, exit code: 1"
    listed = stack.client("s3").list_objects_v2(Bucket=data["bucket"], Prefix=f"assessments/{name}/")
    assert listed["KeyCount"] == 0  # outputs are uploaded only by a job that completes


def test_a_role_without_s3_access_fails_the_job_naming_the_refused_call(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"denied-{uuid.uuid4().hex[:8]}"
    sagemaker.create_processing_job(**request(data, name, role=data["no_s3"]))
    described = wait(sagemaker, name)
    assert described["ProcessingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(
        "ClientError: AccessDenied: User: arn:aws:sts::123456789012:assumed-role/processing-no-s3/"
    )
    assert f'is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{data["bucket"]}"' in reason


def test_a_role_that_cannot_write_fails_at_the_upload(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"readonly-{uuid.uuid4().hex[:8]}"
    sagemaker.create_processing_job(**request(data, name, role=data["read_only"]))
    described = wait(sagemaker, name)
    assert described["ProcessingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("ClientError: uploading the outputs failed: AccessDenied: User: ")
    assert f's3:PutObject on resource: "arn:aws:s3:::{data["bucket"]}/assessments/{name}/' in reason


def test_an_image_whose_python_is_too_old_for_the_code_in_the_inputs_fails_the_job(stack, data):
    """The check looks inside sourcedir.tar.gz: the code needs 3.10 (zip(strict=...)), 1.2-1 runs 3.9."""
    sagemaker = stack.client("sagemaker")
    name = f"py39-{uuid.uuid4().hex[:8]}"
    sagemaker.create_processing_job(**request(data, name, ImageUri=PY39_IMAGE))
    described = wait(sagemaker, name)
    assert described["ProcessingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(f"AlgorithmError: image {PY39_IMAGE}: the image runs Python 3.9, the code needs 3.10")
    assert "include/training/metrics.py" in reason


def test_max_runtime_and_stop_end_the_job_as_stopped(stack, data):
    sagemaker = stack.client("sagemaker")
    sleep = "import sys, time; time.sleep(float(sys.argv[1]))"
    sleeper = {"ContainerEntrypoint": ["python3", "-c", sleep], "ContainerArguments": ["120"]}
    timed = f"timed-{uuid.uuid4().hex[:8]}"
    config = request(data, timed, **sleeper)
    config["StoppingCondition"] = {"MaxRuntimeInSeconds": 2}
    sagemaker.create_processing_job(**config)
    stopped = f"stopped-{uuid.uuid4().hex[:8]}"
    sagemaker.create_processing_job(**request(data, stopped, **sleeper))
    for _ in range(100):
        if sagemaker.describe_processing_job(ProcessingJobName=stopped).get("ProcessingStartTime"):
            break
        time.sleep(0.2)
    sagemaker.stop_processing_job(ProcessingJobName=stopped)
    assert sagemaker.describe_processing_job(ProcessingJobName=stopped)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    for name in (timed, stopped):
        described = wait(sagemaker, name)
        assert described["ProcessingJobStatus"] == "Stopped" and "FailureReason" not in described
    with pytest.raises(ClientError) as again:
        sagemaker.stop_processing_job(ProcessingJobName=stopped)
    assert again.value.response["Error"]["Code"] == "ValidationException"


def test_requests_refused_as_sagemaker_refuses_them(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"dup-{uuid.uuid4().hex[:8]}"
    sagemaker.create_processing_job(**request(data, name))
    with pytest.raises(ClientError) as duplicate:
        sagemaker.create_processing_job(**request(data, name))
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    outside = request(data, f"outside-{uuid.uuid4().hex[:8]}")
    outside["ProcessingInputs"][0]["S3Input"]["LocalPath"] = "/tmp/code"
    with pytest.raises(ClientError) as bad_path:
        sagemaker.create_processing_job(**outside)
    assert bad_path.value.response["Error"]["Code"] == "ValidationException"
    assert "LocalPath '/tmp/code' must be a path under /opt/ml/processing/" in str(bad_path.value)
    pipe = request(data, f"pipe-{uuid.uuid4().hex[:8]}")
    pipe["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "Pipe"
    with pytest.raises(ClientError, match="only S3Prefix in File mode"):
        sagemaker.create_processing_job(**pipe)
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_processing_job(ProcessingJobName="no-such-job")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert wait(sagemaker, name)["ProcessingJobStatus"] == "Completed"


def test_creating_a_job_needs_pass_role_of_its_role_to_sagemaker(stack, data):
    """What infra/deployer.yaml grants: CreateProcessingJob on the project's names, iam:PassRole
    of the execution role only towards sagemaker.amazonaws.com."""
    from tests.localaws.test_iam_enforcement import client_for, make_user

    create = {
        "Effect": "Allow",
        "Action": ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob"],
        "Resource": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/assess-*",
    }
    without = client_for(stack, "sagemaker", make_user(stack, [create]))
    name = f"assess-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as refused:
        without.create_processing_job(**request(data, name))
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert f"iam:PassRole on resource: {data['role']}" in error["Message"]
    pass_role = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": data["role"],
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    }
    allowed = client_for(stack, "sagemaker", make_user(stack, [create, pass_role]))
    allowed.create_processing_job(**request(data, name))
    with pytest.raises(ClientError) as other_name:
        allowed.create_processing_job(**request(data, f"other-{uuid.uuid4().hex[:8]}"))
    assert (
        "sagemaker:CreateProcessingJob on resource: arn:aws:sagemaker:us-east-1:123456789012:processing-job/other-"
        in (other_name.value.response["Error"]["Message"])
    )
    assert wait(allowed, name)["ProcessingJobStatus"] == "Completed"
