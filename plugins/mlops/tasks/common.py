"""Steps more than one DAG takes: reading artifacts from S3, publishing a registered version."""

from __future__ import annotations

import io
import tarfile

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.hooks.sagemaker_model_package import SageMakerModelPackageHook


def framework_image(aws_conn_id: str) -> str:
    """The default training/serving image for the connection's region (include/images.py): no account
    or region written down, and a Python the source directory runs on."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from include.images import framework_image as for_region
    from include.training.package import REQUIRES_PYTHON

    hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="sts")
    region = hook.conn_region_name or hook.get_session().region_name or "us-east-1"
    return for_region(region, REQUIRES_PYTHON)


def require_image(image: str, aws_conn_id: str) -> None:
    """Fail now, naming repository:tag, when the image a job is about to run is not in ECR.

    SageMaker's scikit-learn framework images (the default training/serving image, in AWS's own
    registries, listed by the SDK's config) are not ours to describe: they are taken as they are.
    """
    from include.images import FRAMEWORK_REPOSITORY, parse_ecr_image
    from mlops.hooks.ecr_images import EcrImagesHook

    ref = parse_ecr_image(image)
    if ref is not None and ref.repository == FRAMEWORK_REPOSITORY:
        print(f"image {image}: SageMaker's framework image, not checked")
        return
    detail = EcrImagesHook(aws_conn_id=aws_conn_id).require_image(image)
    print(f"image {image} is in ECR: {detail.get('imageDigest')}, pushed {detail.get('imagePushedAt')}")


def read_object(s3: S3Hook, uri: str) -> bytes:
    bucket, key = S3Hook.parse_s3_url(uri)
    return s3.get_key(key, bucket).get()["Body"].read()


def read_parquet(s3: S3Hook, uri: str):
    import pandas as pd

    return pd.read_parquet(io.BytesIO(read_object(s3, uri)))


def load_model(s3: S3Hook, model_tar_uri: str, into: str):
    """A `model.tar.gz` in the project's artifact format, unpacked into `into` and loaded."""
    from include.training.artifact import ScoringModel

    with tarfile.open(fileobj=io.BytesIO(read_object(s3, model_tar_uri)), mode="r:gz") as archive:
        archive.extractall(into, filter="data")
    return ScoringModel.load(into)


def publish_version(
    mlflow: MlflowHook,
    version,
    alias: str | None,
    *,
    aws_conn_id: str,
    package_group: str,
    image: str,
    model_data_url: str,
    run_id: str,
) -> str:
    """The sequence after registering a version, for trained and dropped models alike: its alias set
    (when it earned one), and its SageMaker model package created once, its ARN tagged on the version
    (a rerun finds the tag and creates nothing). Returns the package ARN."""
    from include.training.gate import approval_status

    name, number = version.name, str(version.version)
    if alias is not None:
        mlflow.set_alias(name, alias, number)
    package_arn = version.tags.get("model_package_arn")
    if not package_arn:
        package_arn = SageMakerModelPackageHook(aws_conn_id=aws_conn_id).create_package(
            package_group,
            image=image,
            model_data_url=model_data_url,
            approval_status=approval_status(alias),
            description=f"MLflow {name} version {number} (DAG run {run_id})",
            metadata={"mlflow_model": name, "mlflow_version": number},
        )
        mlflow.tag_version(name, number, {"model_package_arn": package_arn})
    return package_arn
