"""mlops.deployment: every name carries the environment, read from the Variables at run time."""

from __future__ import annotations

import pytest

from mlops.deployment import Deployment, current


def test_every_name_carries_the_environment():
    dev, prod = Deployment(), Deployment("mlops", "prod")
    names = lambda d: [  # noqa: E731
        d.stack_name("preprocessing"),
        d.stack_output("platform", "BucketName"),
        d.preprocessing_prefix,
        d.max_bad_share_parameter,
        d.campaign_parameter,
        d.tracking_parameter,
        d.package_group,
        d.endpoint,
        d.personalize_prefix,
        d.training_job_prefix,
    ]
    assert names(dev) == [
        "mlops-preprocessing-dev",
        "/mlops/dev/stacks/platform/BucketName",
        "/mlops/dev/preprocessing",
        "/mlops/dev/preprocessing/max-bad-share",
        "/mlops/dev/personalize/campaign-arn",
        "/mlops/dev/personalize/tracking-id",
        "mlops-recommender-dev",
        "mlops-recommender-dev",
        "mlops-recommender-dev",
        "mlops-recommender-dev",
    ]
    assert all("prod" in name for name in names(prod))
    assert not set(names(dev)) & set(names(prod))


def test_the_deployment_comes_from_the_variables(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_MLOPS_ENVIRONMENT", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_MLOPS_PROJECT", raising=False)
    assert current() == Deployment("mlops", "dev")
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_ENVIRONMENT", "prod")
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_PROJECT", "shop")
    assert current().stack_outputs_prefix == "/shop/prod/stacks"


def test_an_unknown_environment_is_refused():
    with pytest.raises(ValueError, match="environment 'qa' is none of"):
        Deployment("mlops", "qa")
