"""infra_teardown end to end: `staging` deployed by infra_bootstrap beside dev, given Personalize
resources and a SageMaker endpoint, then deleted by the DAG as staging's deployer role. Only the
retained buckets (and the retained A/B ledger) are left; dev's resources are untouched; a wrong
confirmation deletes nothing; a second run finds nothing to do."""

from __future__ import annotations

import pytest

from devstack.airflow_env import aws_connection
from tests.conftest import service_role, ssm_tree
from tests.dags.conftest import load_dag, states

pytestmark = pytest.mark.slow
ENV = "staging"
PREFIX = f"mlops-recommender-{ENV}"
ACCOUNT, REGION = "123456789012", "us-east-1"


def _environment(stack, role: str) -> dict[str, str]:
    return {
        "AIRFLOW_VAR_MLOPS_ENVIRONMENT": ENV,
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(stack.url, stack.ca_bundle, role),
    }


def _run(dag_id: str, env: dict[str, str], conf: dict | None = None):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return load_dag(dag_id).test(run_conf=conf or {})


def _seed_personalize(stack, prefix: str) -> list[str]:
    """What personalize_training leaves, ACTIVE: dataset group, schema, dataset, solution with a
    version, campaign, event tracker (made in the backend: training one takes minutes)."""
    backend = stack.backend("personalize", ACCOUNT, REGION)
    group = backend.arn("dataset-group", prefix)
    schema = backend.arn("schema", f"{prefix}-interactions")
    dataset = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset/{prefix}/INTERACTIONS"
    solution = backend.arn("solution", f"{prefix}-user-personalization")
    version = f"{solution}/0123abcd"
    campaign = backend.arn("campaign", f"{prefix}-user-personalization")
    tracker = backend.arn("event-tracker", f"{prefix[-8:]}01")
    made = [
        ("dataset-group", prefix, group, {"datasetGroupArn": group}),
        ("schema", f"{prefix}-interactions", schema, {"schemaArn": schema, "schema": "{}"}),
        (
            "dataset",
            f"{prefix}-interactions",
            dataset,
            {"datasetArn": dataset, "datasetGroupArn": group, "datasetType": "Interactions", "schemaArn": schema},
        ),
        ("solution", f"{prefix}-user-personalization", solution, {"solutionArn": solution, "datasetGroupArn": group}),
        (
            "solution-version",
            "2011-10-full-0123abcd",
            version,
            {"solutionVersionArn": version, "solutionArn": solution, "datasetGroupArn": group},
        ),
        (
            "campaign",
            f"{prefix}-user-personalization",
            campaign,
            {"campaignArn": campaign, "solutionVersionArn": version},
        ),
        (
            "event-tracker",
            f"{prefix}-events",
            tracker,
            {"eventTrackerArn": tracker, "datasetGroupArn": group, "trackingId": f"tracking-{prefix}"},
        ),
    ]
    for kind, name, arn, fields in made:
        backend._new(kind, name, arn, fields, status="ACTIVE")
    return [arn for _, _, arn, _ in made]


def _personalize_arns(stack) -> set[str]:
    return set(stack.backend("personalize", ACCOUNT, REGION).resources)


def _sagemaker_names(stack, prefix: str) -> dict[str, list[str]]:
    sagemaker = stack.client("sagemaker")
    return {
        "endpoints": [
            e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"] if e["EndpointName"] == prefix
        ],
        "configs": [
            c["EndpointConfigName"]
            for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
            if c["EndpointConfigName"].startswith(prefix + "-")
        ],
        "models": [
            m["ModelName"] for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(prefix + "-")
        ],
    }


def _stacks(stack, environment: str) -> list[str]:
    summaries = stack.client("cloudformation").describe_stacks()["Stacks"]
    return sorted(
        s["StackName"]
        for s in summaries
        if s["StackName"].endswith(f"-{environment}") and s["StackStatus"] != "DELETE_COMPLETE"
    )


def _buckets(stack, environment: str) -> list[str]:
    return sorted(b["Name"] for b in stack.client("s3").list_buckets()["Buckets"] if f"-{environment}-" in b["Name"])


@pytest.fixture(scope="module")
def staging(stack, platform, airflow_db):
    """staging deployed by infra_bootstrap as its own deployer role, then given what the
    training and promotion DAGs would leave: Personalize resources, an endpoint, configs, models."""
    from devstack.provision import deployer_role_arn

    role = deployer_role_arn(stack.client, ENV)
    run = _run("infra_bootstrap", _environment(stack, role))
    assert run.state == "success", states(run)
    personalize = _seed_personalize(stack, PREFIX)
    sagemaker = stack.client("sagemaker")
    reads = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::nowhere-{ENV}/*"}]
    model_role = service_role(stack, f"teardown-{ENV}-model", "sagemaker.amazonaws.com", reads)
    for version in ("1", "2"):
        sagemaker.create_model(
            ModelName=f"{PREFIX}-v{version}",
            ExecutionRoleArn=model_role,
            PrimaryContainer={"Image": "serving:latest", "ModelDataUrl": f"s3://nowhere-{ENV}/v{version}/model.tar.gz"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{PREFIX}-v{version}",
            ProductionVariants=[
                {
                    "VariantName": "champion",
                    "ModelName": f"{PREFIX}-v{version}",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName=PREFIX, EndpointConfigName=f"{PREFIX}-v2")
    backend = stack.backend("personalize", ACCOUNT, REGION)
    delay, backend.delay = backend.delay, 0.2
    yield {"role": role, "personalize": personalize}
    backend.delay = delay


def test_a_wrong_confirmation_deletes_nothing(stack, staging):
    before = _stacks(stack, ENV)
    run = _run("infra_teardown", _environment(stack, staging["role"]), {"confirm": "prod"})
    assert run.state == "failed"
    assert states(run)["plan"] == "failed"
    assert _stacks(stack, ENV) == before and len(before) == 5  # the deployer and the four platform stacks
    assert set(staging["personalize"]) <= _personalize_arns(stack)


def test_teardown_leaves_only_the_retained_buckets_and_a_rerun_does_nothing(stack, staging, capfd):
    dev_stacks, dev_buckets = _stacks(stack, "dev"), _buckets(stack, "dev")
    dev_personalize = {a for a in _personalize_arns(stack) if "-dev" in a}
    buckets_before = _buckets(stack, ENV)
    assert buckets_before, "staging's stacks made no bucket"

    run = _run("infra_teardown", _environment(stack, staging["role"]), {"confirm": ENV})
    out = capfd.readouterr().out
    errors = [line for line in out.splitlines() if "Error" in line or "Exception" in line or "denied" in line]
    assert run.state == "success", (states(run), errors[-12:])

    # what bills by the hour is gone, and everything named after staging with it
    assert not set(staging["personalize"]) & _personalize_arns(stack)
    assert _sagemaker_names(stack, PREFIX) == {"endpoints": [], "configs": [], "models": []}
    assert _stacks(stack, ENV) == [f"mlops-deployer-{ENV}"]  # the administrator's stack stays
    assert ssm_tree(stack, f"/mlops/{ENV}/stacks/") == {}
    # the retained buckets are kept, with their data, and the result lists every one of them
    result = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert _buckets(stack, ENV) == buckets_before == result["retained"]["buckets"]
    assert result["retained"]["tables"] == [f"mlops-ab-tests-{ENV}"]
    # dependants first: personalize reads serving's and platform's outputs, serving platform's
    assert result["stacks_deleted"] == [
        f"mlops-{k}-{ENV}" for k in ("personalize", "serving", "preprocessing", "platform")
    ]
    for bucket in buckets_before:
        assert f"retained bucket: {bucket}" in out

    # dev is untouched
    assert _stacks(stack, "dev") == dev_stacks and _buckets(stack, "dev") == dev_buckets
    assert dev_personalize <= _personalize_arns(stack)

    # a second run finds nothing left and deletes nothing
    again = _run("infra_teardown", _environment(stack, staging["role"]), {"confirm": ENV})
    assert again.state == "success", states(again)
    assert again.get_task_instance("report").xcom_pull(task_ids="report")["stacks_deleted"] == []
    assert _buckets(stack, ENV) == buckets_before
