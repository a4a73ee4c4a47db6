"""Local SageMaker endpoints: variants run the project's inference code and traffic follows weights."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, WaiterError

from devstack.datasets import month_file
from include.images import framework_image
from include.preprocessing import job as preprocessing
from include.training import train
from include.training.package import REQUIRES_PYTHON
from tests.conftest import service_role

IMAGE = framework_image("us-east-1", REQUIRES_PYTHON)
PY39_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/model"
SCRIPT_MODE = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


def _tar(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(stack, tmp_path_factory) -> dict[str, str]:
    """Two SageMaker models (popularity, ALS) trained on the real 2011-09 by the training entry point."""
    root = tmp_path_factory.mktemp("endpoint-models")
    fitted = preprocessing.fit_files([(str(month_file("2011-09")), "2011-09")], ["2011-09"])
    preprocessing.process_file(str(month_file("2011-09")), "2011-09", fitted, str(root / "out"), "2011-09")
    (root / "data").mkdir()
    (root / "out" / "interactions.parquet").rename(root / "data" / "interactions.parquet")
    s3, sagemaker = stack.client("s3"), stack.client("sagemaker")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    service_role(  # what the model servers run as: read the artifacts, write their logs
        stack,
        ROLE.rsplit("/", 1)[-1],
        "sagemaker.amazonaws.com",
        [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/*",
            },
        ],
    )
    names = {}
    for kind, hp in (("popularity", {}), ("als", {"factors": 8, "epochs": 3})):
        model_dir = root / kind
        train.run({"model": kind, "seed": 1, **hp}, str(root / "data"), None, None, str(model_dir))
        key = f"models/recommender/{kind}/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=_tar(model_dir))
        names[kind] = f"rec-{kind}-{uuid.uuid4().hex[:6]}"
        sagemaker.create_model(
            ModelName=names[kind],
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/{key}", "Environment": SCRIPT_MODE},
        )
    known = json.loads((root / "als" / "model.json").read_text())["users"][:50]
    return {**names, "bucket": bucket, "known_users": known}


def _config(stack, *variants: tuple[str, str, float]) -> str:
    name = f"cfg-{uuid.uuid4().hex[:8]}"
    stack.client("sagemaker").create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, model, weight in variants
        ],
    )
    return name


def _wait(stack, endpoint: str) -> dict:
    sagemaker = stack.client("sagemaker")
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return sagemaker.describe_endpoint(EndpointName=endpoint)


def _invoke(stack, endpoint: str, user: str, **kwargs) -> dict:
    response = stack.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=json.dumps({"user_id": user, "num_results": 5}),
        **kwargs,
    )
    return {"variant": response["InvokedProductionVariant"], **json.loads(response["Body"].read())}


def _metric_sum(stack, endpoint: str, variant: str, name: str) -> float:
    now = datetime.now(UTC)
    result = stack.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=name,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in result["Datapoints"])


def test_an_endpoint_serves_the_models_own_inference_code_and_reports_metrics(stack, models):
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    sagemaker = stack.client("sagemaker")
    sagemaker.create_endpoint(
        EndpointName=endpoint, EndpointConfigName=_config(stack, ("champion", models["als"], 1.0))
    )
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating"
    described = _wait(stack, endpoint)
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["champion"]

    known = _invoke(stack, endpoint, models["known_users"][0])
    assert known["variant"] == "champion" and known["model"] == "als" and known["source"] == "model"
    assert len(known["items"]) == 5
    assert _invoke(stack, endpoint, "no-such-customer")["source"] == "popularity"
    with pytest.raises(ClientError) as bad:
        stack.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=b"{}"
        )
    assert bad.value.response["Error"]["Code"] == "ModelError" and "(400)" in bad.value.response["Error"]["Message"]
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424

    assert _metric_sum(stack, endpoint, "champion", "Invocations") == 3
    assert _metric_sum(stack, endpoint, "champion", "Invocation4XXErrors") == 1
    assert _metric_sum(stack, endpoint, "champion", "ModelLatency") > 0
    streams = stack.client("logs").describe_log_streams(logGroupName=f"/aws/sagemaker/Endpoints/{endpoint}")
    assert streams["logStreams"][0]["logStreamName"].startswith("champion/i-")

    # The per-minute instance metrics, sampled now rather than after a minute: the server's own process.
    sampler = stack.backend("sagemaker-endpoints", "123456789012", "us-east-1").utilisation
    assert sampler.sample() >= 1
    cpu_and_memory = {}
    for name in ("CPUUtilization", "MemoryUtilization", "DiskUtilization"):
        now = datetime.now(UTC)
        points = stack.client("cloudwatch").get_metric_statistics(
            Namespace="/aws/sagemaker/Endpoints",
            MetricName=name,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "champion"}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        cpu_and_memory[name] = max(p["Maximum"] for p in points)
    assert cpu_and_memory["MemoryUtilization"] > 0.1  # a Python model server holds well over 8 MiB of 8 GiB
    assert 0 < cpu_and_memory["DiskUtilization"] <= 100 and cpu_and_memory["CPUUtilization"] >= 0

    with pytest.raises(ClientError, match="Cannot create already existing endpoint"):
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=_config(stack, ("x", models["als"], 1.0)))
    sagemaker.delete_endpoint(EndpointName=endpoint)
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName=endpoint)
    with pytest.raises(ClientError, match=f"Endpoint {endpoint} of account 123456789012 not found") as gone:
        stack.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=b"{}")
    assert gone.value.response["Error"]["Code"] == "ValidationError"


def test_traffic_follows_weights_target_variant_and_weight_updates(stack, models):
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    sagemaker = stack.client("sagemaker")
    sagemaker.create_endpoint(
        EndpointName=endpoint, EndpointConfigName=_config(stack, ("champion", models["popularity"], 1))
    )
    _wait(stack, endpoint)
    two = _config(stack, ("champion", models["popularity"], 0.5), ("challenger", models["als"], 0.5))
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=two)
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    described = _wait(stack, endpoint)
    assert described["EndpointConfigName"] == two and "FailureReason" not in described

    user = models["known_users"][1]
    served = Counter(_invoke(stack, endpoint, user)["variant"] for _ in range(200))
    assert 60 < served["challenger"] < 140, served  # 50/50 within ~6 sigma
    assert _invoke(stack, endpoint, user, TargetVariant="challenger")["model"] == "als"
    assert _invoke(stack, endpoint, user, TargetVariant="champion")["model"] == "popularity"

    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "challenger", "DesiredWeight": 0.0}],
    )
    weights = {v["VariantName"]: v["CurrentWeight"] for v in _wait(stack, endpoint)["ProductionVariants"]}
    assert weights == {"champion": 0.5, "challenger": 0.0}
    assert {_invoke(stack, endpoint, user)["variant"] for _ in range(30)} == {"champion"}
    with pytest.raises(ClientError, match='"ghost" is/are not present'):
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "ghost", "DesiredWeight": 1.0}]
        )
    sagemaker.delete_endpoint(EndpointName=endpoint)


def test_a_failed_update_rolls_back_and_keeps_serving(stack, models):
    sagemaker = stack.client("sagemaker")
    broken = f"rec-broken-{uuid.uuid4().hex[:6]}"
    sagemaker.create_model(
        ModelName=broken,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{models['bucket']}/models/recommender/missing/model.tar.gz",
            "Environment": SCRIPT_MODE,
        },
    )
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    first = _config(stack, ("champion", models["popularity"], 1))
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=first)
    _wait(stack, endpoint)
    sagemaker.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=_config(stack, ("champion", models["popularity"], 1), ("challenger", broken, 1)),
    )
    described = _wait(stack, endpoint)
    assert described["EndpointConfigName"] == first
    assert "ModelDataUrl" in described["FailureReason"] and "NoSuchKey" in described["FailureReason"]
    assert _invoke(stack, endpoint, "12347")["variant"] == "champion"

    failed = f"ep-{uuid.uuid4().hex[:8]}"
    sagemaker.create_endpoint(EndpointName=failed, EndpointConfigName=_config(stack, ("champion", broken, 1)))
    with pytest.raises(Exception, match="Failed"):
        _wait(stack, failed)
    sagemaker.delete_endpoint(EndpointName=endpoint)


def test_a_faulty_variant_answers_5xx_and_the_errors_are_counted(stack, models):
    stack.faults.arm_model(models["als"], error_rate=1.0)
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    sagemaker = stack.client("sagemaker")
    sagemaker.create_endpoint(
        EndpointName=endpoint, EndpointConfigName=_config(stack, ("challenger", models["als"], 1))
    )
    _wait(stack, endpoint)
    for _ in range(4):
        with pytest.raises(ClientError) as err:
            _invoke(stack, endpoint, "12347")
        assert err.value.response["Error"]["Code"] == "ModelError" and "(500)" in err.value.response["Error"]["Message"]
    assert _metric_sum(stack, endpoint, "challenger", "Invocation5XXErrors") == 4
    assert _metric_sum(stack, endpoint, "challenger", "Invocations") == 4
    sagemaker.delete_endpoint(EndpointName=endpoint)


def test_an_endpoint_whose_image_python_is_too_old_for_the_model_code_fails(stack, models, tmp_path):
    """The served code needs 3.11 (datetime.UTC); scikit-learn 1.2-1 runs 3.9: the endpoint never serves."""
    sagemaker, s3 = stack.client("sagemaker"), stack.client("s3")
    (tmp_path / "code").mkdir()
    (tmp_path / "model.json").write_text("{}")
    (tmp_path / "code" / "inference.py").write_text(
        "import datetime\n\nSTARTED = datetime.datetime.now(datetime.UTC)\n"
    )
    key = f"models/py311/{uuid.uuid4().hex[:6]}/model.tar.gz"
    s3.put_object(Bucket=models["bucket"], Key=key, Body=_tar(tmp_path))
    model = f"rec-py311-{uuid.uuid4().hex[:6]}"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": PY39_IMAGE,
            "ModelDataUrl": f"s3://{models['bucket']}/{key}",
            "Environment": SCRIPT_MODE,
        },
    )
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=_config(stack, ("champion", model, 1)))
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Failed"
    reason = described["FailureReason"]
    assert "production variant champion did not pass the ping health check" in reason
    assert f"image {PY39_IMAGE}: the image runs Python 3.9, the code needs 3.11" in reason
    assert "inference.py:3 'datetime.UTC' member" in reason
    sagemaker.delete_endpoint(EndpointName=endpoint)
