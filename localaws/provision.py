"""Provision, on the local stack, the resources the DAGs read from SSM, and the partner's drop.

This creates what the preprocessing stack's template provides on AWS (buckets, ECS cluster,
ingest task definition, log group, network) and publishes the same outputs under
`/mlops/stacks/preprocessing/`. It also plays the partner: the real monthly files of
`shared/datasets/online-retail/` are uploaded to the drop bucket with their SHA256SUMS.
Every step is idempotent.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from localaws.datasets import online_retail_dir

ACCOUNT = "123456789012"
ENVIRONMENT = "dev"
DROP_BUCKET = "partner-drop"
DROP_PREFIX = f"s3://{DROP_BUCKET}/online-retail"
INGEST_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlops-raw-ingest:latest"


def _private_bucket(s3, name: str) -> None:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _network(ec2) -> tuple[str, str]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["mlops-local"]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock="10.42.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "mlops-local"}]}],
        )["Vpc"]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    subnet_id = (
        subnets[0]["SubnetId"]
        if subnets
        else ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    )
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["mlops-jobs"]}]
    )["SecurityGroups"]
    group_id = (
        groups[0]["GroupId"]
        if groups
        else ec2.create_security_group(GroupName="mlops-jobs", Description="ECS jobs, egress only", VpcId=vpc_id)[
            "GroupId"
        ]
    )
    return subnet_id, group_id


def _ingest_task_definition(ecs, log_group: str) -> str:
    wanted = {
        "name": "ingest",
        "image": INGEST_IMAGE,
        "essential": True,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ingest"},
        },
    }
    try:
        current = ecs.describe_task_definition(taskDefinition="mlops-raw-ingest")["taskDefinition"]
        container = current["containerDefinitions"][0]
        if all(container.get(k) == v for k, v in wanted.items()):
            return current["taskDefinitionArn"]
    except ecs.exceptions.ClientException:
        pass
    return ecs.register_task_definition(
        family="mlops-raw-ingest",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-ingest-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-ecs-execution",
        containerDefinitions=[wanted],
    )["taskDefinition"]["taskDefinitionArn"]


def provision(client, dataset_dir: Path | None = None, months: list[str] | None = None) -> dict[str, str]:
    """`client(service)` gives a boto3 client on the local stack. Returns the published outputs."""
    s3, ecs, logs, ec2 = client("s3"), client("ecs"), client("logs"), client("ec2")
    suffix = f"{ENVIRONMENT}-{ACCOUNT}-us-east-1"
    buckets = {k: f"mlops-{k.lower()}-{suffix}" for k in ("Input", "Output", "Artifact")}
    for name in [*buckets.values(), DROP_BUCKET]:
        _private_bucket(s3, name)
    subnet_id, group_id = _network(ec2)
    ecs.create_cluster(clusterName="mlops-jobs")
    log_group = "/ecs/mlops-jobs"
    try:
        logs.create_log_group(logGroupName=log_group)
        logs.put_retention_policy(logGroupName=log_group, retentionInDays=30)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    outputs = {
        "InputBucket": buckets["Input"],
        "OutputBucket": buckets["Output"],
        "ArtifactBucket": buckets["Artifact"],
        "ClusterName": "mlops-jobs",
        "IngestTaskDefinition": _ingest_task_definition(ecs, log_group),
        "LogGroupName": log_group,
        "SubnetIds": subnet_id,
        "SecurityGroupIds": group_id,
    }
    from mlops.hooks.stack_outputs import STACK_OUTPUTS_PREFIX

    ssm = client("ssm")
    for key, value in outputs.items():
        ssm.put_parameter(
            Name=f"{STACK_OUTPUTS_PREFIX}/preprocessing/{key}", Value=value, Type="String", Overwrite=True
        )
    upload_drop(s3, dataset_dir, months)
    return outputs


def upload_drop(s3, dataset_dir: Path | None = None, months: list[str] | None = None) -> list[str]:
    """Upload the partner's files (all months, or the given ones) and their SHA256SUMS."""
    dataset_dir = dataset_dir or online_retail_dir()
    files = sorted(dataset_dir.glob("*.csv.gz"))
    if months is not None:
        files = [f for f in files if f.name.removesuffix(".csv.gz") in months]
    for path in files:
        s3.upload_file(str(path), DROP_BUCKET, f"online-retail/{path.name}")
    s3.upload_file(str(dataset_dir / "SHA256SUMS"), DROP_BUCKET, "online-retail/SHA256SUMS")
    return [p.name for p in files]
