"""Provision the local account: what exists before the platform's stacks are deployed.

A VPC with a private subnet (a real account has its network before any project arrives), the
data partner's drop bucket with the real monthly files of `shared/datasets/online-retail/` and
their SHA256SUMS, and the deployer stack (`infra/deployer.yaml`: the role Airflow runs as and the
CloudFormation service role), deployed as the account's admin - the one step a platform team does
by hand. The platform's own resources come from `infra/` through the infra_bootstrap DAG, as the
deployer role, exactly as on AWS. Every step is idempotent. Each environment (dev, prod...) has its
own deployer stack and roles, so several share the account: `deploy_deployer(cfn, "prod")`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from devstack import PROJECT_ROOT
from devstack.datasets import online_retail_dir

ACCOUNT = "123456789012"  # moto's default account
PROJECT = "mlops"
ENVIRONMENT = "dev"
DEPLOYER_TEMPLATE = PROJECT_ROOT / "infra" / "deployer.yaml"
# Who may assume the deployer role: the account's admin credentials Airflow's connection holds
# (self-hosted Airflow; MWAA assumes it as airflow-env.amazonaws.com).
TRUSTED_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:root"
DROP_BUCKET = "partner-drop"
DROP_PREFIX = f"s3://{DROP_BUCKET}/online-retail"


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
    """The account's VPC and private subnet, found by tag or created once."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["mlops-local"]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock="10.42.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "mlops-local"}]}],
        )["Vpc"]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    if subnets:
        return vpc_id, subnets[0]["SubnetId"]
    return vpc_id, ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]


def provision(client, dataset_dir: Path | None = None, months: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Set up what an account has before the platform: a network and the partner's drop.

    `client(service)` gives a boto3 client on the local stack. Returns the stack parameters that
    describe this account (the `infra_parameters` Variable of the infra_bootstrap DAG); the
    stacks themselves are deployed by that DAG, from `infra/`, as on AWS.
    """
    s3, ec2 = client("s3"), client("ec2")
    _private_bucket(s3, DROP_BUCKET)
    vpc_id, subnet_id = _network(ec2)
    upload_drop(s3, dataset_dir, months)
    deploy_deployer(client("cloudformation"))
    return infra_parameters(vpc_id, [subnet_id])


def deployer_stack(environment: str = ENVIRONMENT) -> str:
    return f"{PROJECT}-deployer-{environment}"


def deploy_deployer(cfn, environment: str = ENVIRONMENT) -> dict[str, str]:
    """Create an environment's deployer stack once (as the admin: it creates IAM roles); returns its outputs."""
    name = deployer_stack(environment)
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        cfn.create_stack(
            StackName=name,
            TemplateBody=DEPLOYER_TEMPLATE.read_text(),
            Parameters=[
                {"ParameterKey": "ProjectName", "ParameterValue": PROJECT},
                {"ParameterKey": "Environment", "ParameterValue": environment},
                {"ParameterKey": "TrustedPrincipalArn", "ParameterValue": TRUSTED_PRINCIPAL},
                {"ParameterKey": "DropBucketName", "ParameterValue": DROP_BUCKET},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deployer_role_arn(client, environment: str = ENVIRONMENT) -> str:
    """The role an environment's Airflow connection assumes (`role_arn`), from its deployer stack's outputs."""
    return deploy_deployer(client("cloudformation"), environment)["DeployerRoleArn"]


def infra_parameters(vpc_id: str, subnet_ids: list[str]) -> dict[str, dict[str, str]]:
    """Per stack, the parameters that depend on the account (everything else has defaults)."""
    network = {"VpcId": vpc_id, "SubnetIds": ",".join(subnet_ids)}
    return {
        "platform": network,
        "preprocessing": {**network, "DropBucketName": DROP_BUCKET},
        # Local traffic lasts minutes, not days: a guardrail fires on one breaching minute.
        "serving": {"GuardrailEvaluationPeriods": "1", "GuardrailDatapointsToAlarm": "1"},
        # its image (MlflowImageTag) is the digest of docker/mlflow.Dockerfile's sources: infra_bootstrap's
        "mlflow-selfhosted": {"VpcId": vpc_id, "PrivateSubnetIds": ",".join(subnet_ids)},
    }


def push_images(client, environment: str = ENVIRONMENT) -> dict[str, str]:
    """`make push-images` against the local stack: each job image registered (PutImage) under its
    sources' tag in the environment's repositories, which infra_bootstrap's stacks created - what a
    CI job does after deploying them. Idempotent; returns image -> "registered" or "present"."""
    from include.image_build import image_uris, register

    return register(client("ecr"), image_uris(ACCOUNT, "us-east-1", PROJECT, environment))


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
