"""Local SageMaker training jobs: the project's entry point really runs in script mode."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import uuid

import pytest
from botocore.exceptions import ClientError, WaiterError

from devstack.datasets import month_file
from include.images import framework_image
from include.preprocessing import job as preprocessing
from include.training.package import ENTRY, REQUIRES_PYTHON, build_sourcedir
from include.training.train import METRIC_DEFINITIONS
from tests.conftest import service_role

FRAMEWORK_IMAGE = framework_image("us-east-1", REQUIRES_PYTHON)
PY39_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture(scope="module")
def data(stack, tmp_path_factory) -> dict[str, str]:
    """A bucket with the real 2011-09 (train) and 2011-10 (test) months, processed, and the source dir."""
    s3 = stack.client("s3")
    bucket = f"training-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    model = preprocessing.fit_files([(str(month_file("2011-09")), "2011-09")], ["2011-09"])
    root = tmp_path_factory.mktemp("processed")
    for month, channel in (("2011-09", "train"), ("2011-10", "test")):
        preprocessing.process_file(str(month_file(month)), month, model, str(root / month), month)
        s3.upload_file(str(root / month / "interactions.parquet"), bucket, f"data/{channel}/month={month}/i.parquet")
    body, digest = build_sourcedir()
    s3.put_object(Bucket=bucket, Key=f"code/{digest}/sourcedir.tar.gz", Body=body)
    service_role(  # what the jobs run as: read and write this bucket, write their logs
        stack,
        ROLE.rsplit("/", 1)[-1],
        "sagemaker.amazonaws.com",
        [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs*",
            },
        ],
    )
    return {"bucket": bucket, "sourcedir": f"s3://{bucket}/code/{digest}/sourcedir.tar.gz"}


def request(
    data: dict, name: str, model: str = "als", train_prefix: str = "data/train/", image: str = FRAMEWORK_IMAGE
) -> dict:
    bucket = data["bucket"]
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": ROLE,
        "HyperParameters": {
            "sagemaker_program": json.dumps(ENTRY),
            "sagemaker_submit_directory": json.dumps(data["sourcedir"]),
            "model": json.dumps(model),
            "factors": "16",
        },
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}"}},
            }
            for channel, prefix in (("train", train_prefix), ("test", "data/test/"))
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def wait(sagemaker, name: str) -> dict:
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    with contextlib.suppress(WaiterError):  # raised on Failed: the description says why
        waiter.wait(TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    return sagemaker.describe_training_job(TrainingJobName=name)


def test_a_script_mode_job_trains_uploads_the_model_and_reports_metrics(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"als-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(**request(data, name))
    described = wait(sagemaker, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(metrics) == {d["Name"] for d in METRIC_DEFINITIONS}
    assert 0 < metrics["ndcg_at_10"] < 1
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{data['bucket']}/models/{name}/output/model.tar.gz"
    body = stack.client("s3").get_object(Bucket=data["bucket"], Key=f"models/{name}/output/model.tar.gz")["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as archive:
        assert {"model.npz", "model.json", "code/inference.py", "code/artifact.py"} <= set(archive.getnames())
    streams = stack.client("logs").describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    listed = sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert [j["TrainingJobStatus"] for j in listed] == ["Completed"]


def test_a_failing_job_says_why(stack, data):
    sagemaker = stack.client("sagemaker")
    stack.client("s3").put_object(Bucket=data["bucket"], Key="empty/readme.txt", Body=b"no data here")
    name = f"broken-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(**request(data, name, train_prefix="empty/"))
    described = wait(sagemaker, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: DataError: no .parquet files under ")
    assert described["FailureReason"].endswith("exit code: 1")


def test_names_are_unique_and_unknown_jobs_are_not_found(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"pop-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(**request(data, name, model="popularity"))
    with pytest.raises(ClientError) as duplicate:
        sagemaker.create_training_job(**request(data, name, model="popularity"))
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_training_job(TrainingJobName="no-such-job")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert wait(sagemaker, name)["TrainingJobStatus"] == "Completed"


def test_an_injected_job_fault_fails_the_job(stack, data):
    sagemaker = stack.client("sagemaker")
    name = f"faulty-{uuid.uuid4().hex[:8]}"
    stack.faults.arm_job(name, exit_code=3)
    sagemaker.create_training_job(**request(data, name, model="popularity"))
    described = wait(sagemaker, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: see the job logs, exit code: 3"


def test_an_image_whose_python_is_too_old_for_the_code_fails_the_job_naming_both(stack, data):
    """scikit-learn 1.2-1 runs Python 3.9; the source directory needs 3.10 (zip(strict=...))."""
    sagemaker = stack.client("sagemaker")
    name = f"py39-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(**request(data, name, model="popularity", image=PY39_IMAGE))
    described = wait(sagemaker, name)
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(f"AlgorithmError: image {PY39_IMAGE}: the image runs Python 3.9, the code needs 3.10")
    assert "include/training/metrics.py" in reason and "zip(strict)" in reason
