"""dev and prod in one account: infra_bootstrap deploys both, nothing collides, and a DAG run in
each environment reads only its own outputs and writes only into its own resources.

`platform` deployed dev (as dev's deployer role). Here prod gets its own deployer stack, as a
platform team would provision it, and prod's Airflow is simulated by the same DAG files with the
Variable `mlops_environment=prod` and the connection assuming prod's deployer role.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.airflow_env import aws_connection
from tests.conftest import ssm_tree
from tests.dags.conftest import load_dag, states

pytestmark = pytest.mark.slow
STACK_KEYS = ("platform", "preprocessing", "serving", "personalize")
MONTH = "2011-09"


def outputs(stack, environment: str) -> dict[str, str]:
    """`<stack-key>/<OutputKey>` -> value of one environment's published outputs."""
    prefix = f"/mlops/{environment}/stacks/"
    return {name.removeprefix(prefix): value for name, (value, _) in ssm_tree(stack, prefix).items()}


def landings(stack, bucket: str) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"raw/online-retail/month={MONTH}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture(scope="module")
def prod_role(stack, account) -> str:
    from devstack.provision import deployer_role_arn

    return deployer_role_arn(stack.client, "prod")


@pytest.fixture(scope="module")
def prod(stack, platform, prod_role, airflow_db):
    """prod deployed beside dev by infra_bootstrap, as prod's deployer (the Variable, no form field)."""
    from devstack.provision import push_images

    env = {
        "AIRFLOW_VAR_MLOPS_ENVIRONMENT": "prod",
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(stack.url, stack.ca_bundle, prod_role),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        run = load_dag("infra_bootstrap").test()
    assert run.state == "success", states(run)
    push_images(stack.client, "prod")  # prod's own repositories, as a prod pipeline pushes them
    return outputs(stack, "prod")


def test_both_environments_deploy_without_sharing_a_name(stack, platform, prod):
    dev = outputs(stack, "dev")
    names = {s["StackName"] for s in stack.client("cloudformation").describe_stacks()["Stacks"]}
    for key in STACK_KEYS:
        assert {f"mlops-{key}-dev", f"mlops-{key}-prod"} <= names
    assert {"mlops-deployer-dev", "mlops-deployer-prod"} <= names

    # the same outputs in each, under each environment's own prefix, with values of its own
    assert set(dev) == set(prod)
    shared = {k: v for k, v in prod.items() if dev[k] == v}
    # the only values both may hold: the account's network, settings that are not names, and the
    # user profile (named within each environment's own SageMaker domain)
    allowed = {
        "preprocessing/SubnetIds",
        "platform/PrivateSubnetIds",
        "serving/ConversionNamespace",
        "platform/UserProfileName",
    }
    assert set(shared) <= allowed, shared
    for key in ("InputBucket", "ClusterName", "PreprocessingTaskDefinition", "IngestTaskDefinition", "LogGroupName"):
        assert "prod" in prod[f"preprocessing/{key}"] and "dev" in dev[f"preprocessing/{key}"], key
    assert prod["preprocessing/PreprocessingRepositoryUri"].endswith("/mlops-preprocessing-prod")
    assert prod["serving/EndpointName"] == "mlops-recommender-prod"
    assert prod["personalize/CampaignArnParameter"] == "/mlops/prod/personalize/campaign-arn"

    # the preprocessing job's settings, one set per environment
    settings = {env: ssm_tree(stack, f"/mlops/{env}/preprocessing/") for env in ("dev", "prod")}
    assert {n.rsplit("/", 1)[-1] for n in settings["dev"]} == {n.rsplit("/", 1)[-1] for n in settings["prod"]}
    assert settings["prod"]["/mlops/prod/preprocessing/input-bucket"][0] == prod["preprocessing/InputBucket"]

    # resources that live side by side: alarms, functions, feature groups, repositories
    alarms = {a["AlarmName"] for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert {"mlops-dev-champion-latency", "mlops-prod-champion-latency"} <= alarms
    repositories = {r["repositoryName"] for r in stack.client("ecr").describe_repositories()["repositories"]}
    assert {"mlops-raw-ingest-dev", "mlops-raw-ingest-prod"} <= repositories
    functions = {f["FunctionName"] for f in stack.client("lambda").list_functions()["Functions"]}
    assert {"mlops-recommendations-dev", "mlops-recommendations-prod"} <= functions


def test_each_deployer_reaches_only_its_own_environment(stack, platform, prod, prod_role):
    """prod's deployer role reads prod's outputs and settings, and is refused dev's."""
    credentials = stack.client("sts").assume_role(RoleArn=prod_role, RoleSessionName="side-by-side")["Credentials"]
    ssm = boto3.client(
        "ssm",
        region_name="us-east-1",
        endpoint_url=stack.url,
        verify=stack.ca_bundle,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    assert ssm.get_parameter(Name="/mlops/prod/preprocessing/max-bad-share")["Parameter"]["Value"]
    for name in ("/mlops/dev/stacks/preprocessing/InputBucket", "/mlops/dev/preprocessing/max-bad-share"):
        with pytest.raises(ClientError) as refused:
            ssm.get_parameter(Name=name)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", name


def test_a_dag_run_in_each_environment_writes_only_into_its_own(stack, prod, prod_role, aws_conn, monkeypatch):
    dev = outputs(stack, "dev")
    dev_bucket, prod_bucket = dev["preprocessing/InputBucket"], prod["preprocessing/InputBucket"]

    # prod's Airflow lands the month: into prod's input bucket, on prod's cluster; dev is untouched
    dev_before = landings(stack, dev_bucket)
    with monkeypatch.context() as patch:
        patch.setenv("AIRFLOW_VAR_MLOPS_ENVIRONMENT", "prod")
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(stack.url, stack.ca_bundle, prod_role))
        run = load_dag("raw_data_landing").test(run_conf={"month": MONTH})
    assert run.state == "success", states(run)
    manifest = json.loads(
        stack.client("s3")
        .get_object(Bucket=prod_bucket, Key=f"raw/online-retail/month={MONTH}/_manifest.json")["Body"]
        .read()
    )
    assert manifest["task_arn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/mlops-jobs-prod/")
    assert manifest["data_uri"].startswith(f"s3://{prod_bucket}/")
    assert landings(stack, dev_bucket) == dev_before
    prod_after = landings(stack, prod_bucket)
    assert len(prod_after) == 2  # the manifest and its one landing

    # dev's Airflow (the default Variable, dev's role) lands it into dev's; prod is untouched
    run = load_dag("raw_data_landing").test(run_conf={"month": MONTH})
    assert run.state == "success", states(run)
    assert landings(stack, prod_bucket) == prod_after
    dev_after = landings(stack, dev_bucket)
    assert dev_after != dev_before and len(dev_after) == 2
    manifest = json.loads(
        stack.client("s3")
        .get_object(Bucket=dev_bucket, Key=f"raw/online-retail/month={MONTH}/_manifest.json")["Body"]
        .read()
    )
    assert manifest["task_arn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/mlops-jobs-dev/")
