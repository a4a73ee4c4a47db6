"""infra_bootstrap end to end with `dag.test()`: stacks from infra/ deployed on the local stack,
outputs published, a second run a no-op with no duplicate resource, and clear refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from localaws.cloudformation.patches.unmodelled import unmodelled
from tests.conftest import ssm_tree
from tests.dags.conftest import PROJECT_ROOT, states

pytestmark = pytest.mark.slow
DAG_ID = "infra_bootstrap"


def cfn_yaml(path: Path) -> dict:
    """Load a template, keeping short-form intrinsic functions as plain values."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def test_every_template_of_the_dag_exists():
    from dags.infra_bootstrap import STACKS

    for key, spec in STACKS.items():
        assert (PROJECT_ROOT / spec["template"]).is_file(), key
        assert set(spec["after"]) <= set(STACKS)


@pytest.mark.parametrize("template", sorted((PROJECT_ROOT / "infra").glob("*.yaml")), ids=lambda p: p.name)
def test_every_template_resource_is_of_a_type_the_local_stack_creates(stack, template):
    """Nothing completes without being created: a type nothing models would fail its resource."""
    assert unmodelled(cfn_yaml(template)) == {}


def test_second_run_changes_nothing_and_duplicates_nothing(dag, platform, aws_conn, capfd):
    """`platform` already ran the DAG once; run it again and compare everything it could touch."""
    cfn, ecs, s3, cloudwatch = (aws_conn.client(s) for s in ("cloudformation", "ecs", "s3", "cloudwatch"))
    stacks = ["mlops-personalize-dev", "mlops-platform-dev", "mlops-preprocessing-dev", "mlops-serving-dev"]

    def snapshot():
        return {
            "events": {name: len(cfn.describe_stack_events(StackName=name)["StackEvents"]) for name in stacks},
            "task_definitions": ecs.list_task_definitions()["taskDefinitionArns"],
            "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
            "alarms": sorted(
                a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="mlops-dev-")["MetricAlarms"]
            ),
            "packages": sorted(
                o["Key"]
                for o in s3.list_objects_v2(
                    Bucket="mlops-platform-dev-123456789012-us-east-1", Prefix="artifacts/lambda/"
                )["Contents"]
            ),
            "outputs": ssm_tree(aws_conn, "/mlops/dev/stacks/"),
            "stacks": sorted(
                s["StackName"]  # dev's: other environments may share the account (test_environments_side_by_side)
                for s in cfn.describe_stacks()["Stacks"]
                if s["StackName"].startswith("mlops-") and s["StackName"].endswith("-dev")
            ),
        }

    before = snapshot()
    run = dag.test()
    assert run.state == "success"
    assert snapshot() == before
    assert capfd.readouterr().out.count("is up to date") == 4
    assert before["stacks"] == sorted([*stacks, "mlops-deployer-dev"])  # the deployer's: provisioned, not the DAG's
    assert {k.rsplit("/", 1)[-1] for k in before["outputs"] if "/preprocessing/" in k} >= {
        "InputBucket",
        "ClusterName",
        "IngestTaskDefinition",
        "SubnetIds",
        "SecurityGroupIds",
        "LogGroupName",
    }
    assert "/mlops/dev/stacks/serving/AlertTopicArn" in before["outputs"]
    assert before["alarms"] == [
        "mlops-dev-challenger-5xx-rate",
        "mlops-dev-challenger-latency",
        "mlops-dev-champion-5xx-rate",
        "mlops-dev-champion-cpu",
        "mlops-dev-champion-latency",
        "mlops-dev-champion-memory",
        "mlops-dev-recommendations-5xx",
        "mlops-dev-recommendations-errors",
        "mlops-dev-recommendations-latency",
        "mlops-dev-recommendations-throttles",
    ]
    assert len(before["packages"]) == 1, "unchanged code must not be uploaded again"
    input_bucket = platform["InputBucket"]
    block = s3.get_public_access_block(Bucket=input_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.get_bucket_versioning(Bucket=input_bucket)["Status"] == "Enabled"
    ingest = ecs.describe_task_definition(taskDefinition=platform["IngestTaskDefinition"])["taskDefinition"]
    assert (ingest["cpu"], ingest["memory"], ingest["networkMode"]) == ("1024", "2048", "awsvpc")
    # the task definition runs the image built from this code: its tag is the digest of its sources
    from include.images import image_tag

    assert ingest["containerDefinitions"][0]["image"] == f"{platform['IngestRepositoryUri']}:{image_tag('raw-ingest')}"
    assert platform["IngestImage"] == ingest["containerDefinitions"][0]["image"]


def test_serving_reads_the_platform_bucket_from_its_published_output(platform, aws_conn):
    cfn = aws_conn.client("cloudformation")
    serving = cfn.describe_stacks(StackName="mlops-serving-dev")["Stacks"][0]
    bucket = {p["ParameterKey"]: p for p in serving["Parameters"]}["ModelBucketName"]
    published = aws_conn.client("ssm").get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    assert published == "mlops-platform-dev-123456789012-us-east-1"
    # AWS reports the path with a ResolvedValue; moto reports the resolved value itself
    assert bucket.get("ResolvedValue", bucket["ParameterValue"]) == published


def test_platform_resources_are_really_created(platform, aws_conn):
    """The domain (VPC-only, with its NFS security group), user profile, MLflow server, bucket and
    topic policies exist in their services, not only in the stack's resource list."""
    cfn, sm, ec2 = (aws_conn.client(s) for s in ("cloudformation", "sagemaker", "ec2"))
    out = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="mlops-platform-dev")["Stacks"][0]["Outputs"]
    }
    domain = sm.describe_domain(DomainId=out["DomainId"])
    assert domain["Status"] == "InService" and domain["AppNetworkAccessType"] == "VpcOnly"
    (group_id,) = domain["DefaultUserSettings"]["SecurityGroups"]
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["VpcId"] == domain["VpcId"]
    nfs_in = [p for p in group["IpPermissions"] if p.get("FromPort") == 2049]
    assert nfs_in and nfs_in[0]["UserIdGroupPairs"][0]["GroupId"] == group_id
    assert any(p.get("FromPort") == 2049 for p in group["IpPermissionsEgress"])
    profile = sm.describe_user_profile(DomainId=out["DomainId"], UserProfileName=out["UserProfileName"])
    assert profile["Status"] == "InService"
    server = sm.describe_mlflow_tracking_server(TrackingServerName=out["MlflowTrackingServerName"])
    assert server["TrackingServerArn"] == out["MlflowTrackingServerArn"]
    assert server["ArtifactStoreUri"] == f"s3://{out['BucketName']}/mlflow"
    policy = json.loads(aws_conn.client("s3").get_bucket_policy(Bucket=out["BucketName"])["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]
    topic = cfn.describe_stack_resource(StackName="mlops-serving-dev", LogicalResourceId="AlertTopic")
    attributes = aws_conn.client("sns").get_topic_attributes(
        TopicArn=topic["StackResourceDetail"]["PhysicalResourceId"]
    )
    assert "CloudWatchAlarmsPublish" in attributes["Attributes"]["Policy"]


def test_parameter_override_updates_the_stack(dag, platform, aws_conn):
    overrides = {"preprocessing": {"LogRetentionDays": "60"}}
    run = dag.test(run_conf={"stacks": ["preprocessing"], "parameter_overrides": overrides})
    assert run.state == "success"
    stack = aws_conn.client("cloudformation").describe_stacks(StackName="mlops-preprocessing-dev")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {"ParameterKey": "LogRetentionDays", "ParameterValue": "60"} in stack["Parameters"]
    group = aws_conn.client("logs").describe_log_groups(logGroupNamePrefix=platform["LogGroupName"])["logGroups"][0]
    assert group["retentionInDays"] == 60
    outputs = ssm_tree(aws_conn, "/mlops/dev/stacks/preprocessing/")
    assert outputs["/mlops/dev/stacks/preprocessing/LogGroupName"][0] == platform["LogGroupName"]
    # the next plain run keeps what the stack has only if the Variable says so; restore it here
    run = dag.test(
        run_conf={"stacks": ["preprocessing"], "parameter_overrides": {"preprocessing": {"LogRetentionDays": "30"}}}
    )
    assert run.state == "success"


def test_recommendation_api_is_deployed_from_the_packaged_code(platform, aws_conn):
    outputs = {k.rsplit("/", 1)[-1]: v for k, (v, _) in ssm_tree(aws_conn, "/mlops/dev/stacks/personalize/").items()}
    function = aws_conn.client("lambda").get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert (function["Runtime"], function["Handler"]) == ("python3.11", "recommendation_api/handler.handler")
    assert function["Environment"]["Variables"]["CAMPAIGN_ARN_PARAMETER"] == "/mlops/dev/personalize/campaign-arn"
    api = aws_conn.client("apigateway")
    resources = {r["path"]: r for r in api.get_resources(restApiId=outputs["ApiId"])["items"]}
    method = resources["/recommendations/{userId}"]["resourceMethods"]["GET"]
    assert method["apiKeyRequired"] is True
    assert outputs["ApiUrl"].endswith("/v1/recommendations")


def test_optional_self_hosted_mlflow_stack(dag, platform, aws_conn):
    """Not deployed by default; on request its database password lives in an RDS-managed secret."""
    cfn = aws_conn.client("cloudformation")
    assert "mlops-mlflow-selfhosted-dev" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    run = dag.test(run_conf={"stacks": ["mlflow-selfhosted"]})
    assert run.state == "success"
    published = ssm_tree(aws_conn, "/mlops/dev/stacks/mlflow-selfhosted/")
    outputs = {k.rsplit("/", 1)[-1]: v for k, (v, _) in published.items()}
    assert outputs["TrackingUri"].startswith("http://")
    secret = aws_conn.client("secretsmanager").describe_secret(SecretId=outputs["DatabaseSecretArn"])
    assert secret["Name"].startswith("rds!db-")
    template = (PROJECT_ROOT / "infra" / "mlflow-selfhosted.yaml").read_text()
    assert "ManageMasterUserPassword: true" in template
    assert not re.search(r"^\s+MasterUserPassword:", template, re.MULTILINE)


def test_unknown_stack_is_refused_before_any_deployment(dag, platform, aws_conn, capfd):
    run = dag.test(run_conf={"stacks": ["preprocessing"], "parameter_overrides": {"nope": {"A": "1"}}})
    assert run.state == "failed"
    assert states(run)["plan"] == "failed" and states(run)["deploy_preprocessing"] == "upstream_failed"
    assert "unknown stacks ['nope']" in capfd.readouterr().out


def test_missing_account_parameters_say_what_to_set(dag, platform, aws_conn, monkeypatch, capfd):
    """A staging run (as staging's deployer: dev's may not touch staging's stacks) without the
    account's parameters."""
    from devstack.airflow_env import aws_connection
    from devstack.provision import deployer_role_arn

    monkeypatch.setenv("AIRFLOW_VAR_INFRA_PARAMETERS", json.dumps({}))
    staging = deployer_role_arn(aws_conn.client, "staging")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_conn.url, aws_conn.ca_bundle, staging))
    run = dag.test(run_conf={"stacks": ["preprocessing"], "environment": "staging"})
    assert run.state == "failed"
    assert "have no default and were not given" in capfd.readouterr().out
    names = [s["StackName"] for s in aws_conn.client("cloudformation").describe_stacks()["Stacks"]]
    assert "mlops-preprocessing-staging" not in names
