"""Every job image runs its job's code and installs its pins, as AWS would run the image (include/images.py).

The resolve tests ask the package index this machine uses (as `make lock` does)."""

from __future__ import annotations

import pytest

from include import images
from include.training.package import REQUIRES_PYTHON

TOO_OLD = (3, 8)


def _aged(image: images.JobImage, python: tuple[int, int]) -> images.JobImage:
    return images.JobImage(image.image, image.job, python, image.platform, image.code, image.pins)


def test_every_job_image_runs_its_code_and_installs_its_pins():
    job_images = images.job_images("eu-west-1")
    assert {i.image.split(":")[0].rsplit("/", 1)[-1] for i in job_images} >= {
        "mlops-raw-ingest",
        "mlops-preprocessing",
        "sagemaker-scikit-learn",
        "mlops-training",
        "mlops-mlflow",
    }
    assert all(i.python for i in job_images)
    assert all(i.code for i in job_images if "MLflow" not in i.job)
    assert all(i.pins for i in job_images if "SageMaker serving" not in i.job)
    assert images.check(job_images) == []


def test_a_too_old_python_fails_both_checks_naming_image_job_and_reason():
    aged = [_aged(i, TOO_OLD) for i in images.job_images()]
    findings = images.check(aged, resolve=False)
    findings += images.resolve_findings(aged[2])  # the index is slow: one image's pins prove the point
    by_job: dict[str, list[str]] = {}
    for finding in findings:
        by_job.setdefault(finding.job, []).append(finding.reason)
        assert finding.image in {i.image for i in aged}
    # the serving handlers (inference.py, artifact.py) run on 3.7+: only they pass
    assert set(by_job) == {i.job for i in aged if "SageMaker serving" not in i.job and "MLflow" not in i.job}
    ingest = by_job["raw_data_landing: raw ingest (ECS)"]
    assert any("Python 3.8, the code needs 3.11" in r and "include/jobs/raw_ingest.py" in r for r in ingest)
    training = by_job["model_training (SageMaker training, script mode)"]
    assert any("zip(strict)" in r and "include/training/metrics.py" in r for r in training)
    # implicit 0.7.3 and pyarrow 25 ship no wheel for 3.8: the install would fail before any code runs
    assert any("do not install on Python 3.8" in r and "has no usable wheels" in r for r in training)


def test_the_old_default_image_is_refused_for_the_training_code():
    """sklearn 1.2-1 (the former hard-coded default) runs Python 3.9; the code needs 3.10, its pins 3.10+."""
    old = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    reason = images.runtime_refusal(old)
    assert reason and "Python 3.9" in reason and "zip(strict)" in reason
    from include.training.package import source_requirements

    pins = tuple(source_requirements().decode().split())
    spec = images.JobImage(old, "training", (3, 9), "x86_64-manylinux_2_31", (), pins)
    assert "pyarrow" in images.resolve_findings(spec)[0].reason


def test_runtime_refusal_passes_the_defaults_and_ignores_unknown_images():
    assert images.runtime_refusal(images.framework_image("us-east-1", REQUIRES_PYTHON)) is None
    assert images.runtime_refusal("123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-preprocessing:1") is None
    assert images.runtime_refusal("123456789012.dkr.ecr.us-east-1.amazonaws.com/localaws-probe:1.0") is None
    unknown = images.runtime_refusal("1.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:9.9-9-cpu-py3")
    assert unknown and "unknown" in unknown


def test_the_declared_python_of_the_source_directory_is_what_vermin_finds():
    """REQUIRES_PYTHON picks the default image at run time (no vermin in Airflow): it must be the truth."""
    found = max(v for _, v in images.code_requirements(images.training_code()))
    assert found == REQUIRES_PYTHON


def test_the_default_framework_image_is_the_sdks_uri_for_each_region():
    from sagemaker.core import image_uris

    config = images.sdk_config()
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"):
        uri = images.framework_image(region, REQUIRES_PYTHON, config)
        version = uri.rsplit(":", 1)[1].removesuffix("-cpu-py3")
        for scope in ("training", "inference"):
            expected = image_uris.retrieve(
                "sklearn", region=region, version=version, image_scope=scope, instance_type="ml.m5.large"
            )
            assert uri == expected


def test_no_framework_image_fits_a_python_aws_does_not_offer():
    with pytest.raises(LookupError, match=r"no scikit-learn framework image runs Python >= 3\.13"):
        images.framework_image("us-east-1", (3, 13))
    with pytest.raises(LookupError, match="not offered in mars-1"):
        images.framework_image("mars-1", REQUIRES_PYTHON)


def test_every_framework_version_with_a_recorded_python_is_one_the_sdk_offers():
    training = images.sdk_config()["training"]["versions"]
    assert set(images.FRAMEWORK_PYTHON) <= set(training)


def test_each_environments_repository_holds_the_same_image():
    """infra/preprocessing.yaml names repositories <project>-<image>-<env>: the local stack runs
    each as the image's entry point."""
    from localaws.jobs import entrypoint_for

    for env in ("dev", "prod"):
        image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-raw-ingest-{env}:1.0.0"
        assert entrypoint_for(image)[1:] == ["-m", "include.jobs.raw_ingest"]
