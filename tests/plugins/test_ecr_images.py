"""The check before a job starts: its image is in ECR (DescribeImages), as the deployer role, on the
local stack, whose ECR holds what `make push-images` registered (the `platform` fixture)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.slow
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_a_pushed_image_is_found_by_its_tag(platform, aws_conn):
    from include.images import image_tag
    from mlops.hooks.ecr_images import EcrImagesHook

    image = platform["IngestImage"]
    assert image == f"{REGISTRY}/mlops-raw-ingest-dev:{image_tag('raw-ingest')}"  # the stack names the tag
    detail = EcrImagesHook(aws_conn_id="aws_default").require_image(image)
    assert detail["repositoryName"] == "mlops-raw-ingest-dev"
    assert detail["imageTags"] == [image_tag("raw-ingest")]
    assert detail["imageDigest"].startswith("sha256:")


def test_a_missing_tag_is_named_with_its_repository(platform, aws_conn):
    from mlops.hooks.ecr_images import EcrImagesHook, ImageNotInEcr

    with pytest.raises(ImageNotInEcr) as missing:
        EcrImagesHook(aws_conn_id="aws_default").require_image(f"{REGISTRY}/mlops-preprocessing-dev:src-0000")
    assert str(missing.value) == (
        "image mlops-preprocessing-dev:src-0000 is not in ECR (registry 123456789012, us-east-1): "
        "push it (make push-images)"
    )


def test_a_missing_repository_says_which_stack_to_deploy(platform, aws_conn):
    from mlops.hooks.ecr_images import EcrImagesHook, ImageNotInEcr

    with pytest.raises(ImageNotInEcr, match=r"image mlops-nothing-dev:1: repository mlops-nothing-dev does not exist"):
        EcrImagesHook(aws_conn_id="aws_default").require_image(f"{REGISTRY}/mlops-nothing-dev:1")


def test_the_deployer_may_describe_only_its_environments_repositories(platform, aws_conn):
    from mlops.hooks.ecr_images import EcrImagesHook

    with pytest.raises(ClientError) as denied:
        EcrImagesHook(aws_conn_id="aws_default").require_image(f"{REGISTRY}/mlops-raw-ingest-prod:1")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "ecr:DescribeImages" in str(denied.value) and "repository/mlops-raw-ingest-prod" in str(denied.value)


def test_the_local_push_is_idempotent_and_registers_a_manifest(platform, stack):
    from devstack.provision import push_images
    from include.images import image_tag

    assert set(push_images(stack.client).values()) == {"present"}
    ecr = stack.client("ecr")
    found = ecr.batch_get_image(repositoryName="mlops-mlflow-dev", imageIds=[{"imageTag": image_tag("mlflow")}])
    assert '"schemaVersion": 2' in found["images"][0]["imageManifest"]


def test_make_push_images_against_the_local_stack_registers_what_is_missing(platform, stack, capsys):
    from include import image_build
    from include.images import image_tag

    tag = image_tag("mlflow")
    stack.client("ecr").batch_delete_image(repositoryName="mlops-mlflow-dev", imageIds=[{"imageTag": tag}])
    assert image_build.main(["push", "--endpoint-url", stack.url, "--only", "mlflow", "--only", "raw-ingest"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"registered {REGISTRY}/mlops-mlflow-dev:{tag}",
        f"present    {REGISTRY}/mlops-raw-ingest-dev:{image_tag('raw-ingest')}",
    ]


def test_sagemakers_framework_images_are_not_described(capsys):
    """AWS's registries are not the project's to describe; no AWS call is made (none could answer)."""
    from include.images import framework_image
    from mlops.tasks.common import require_image

    image = framework_image("us-east-1", (3, 10))
    require_image(image, "aws_default")
    assert "SageMaker's framework image, not checked" in capsys.readouterr().out
