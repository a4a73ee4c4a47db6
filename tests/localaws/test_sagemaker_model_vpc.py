"""CreateModel's VpcConfig on the local stack: checked against the account's network as SageMaker does."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/model"
CONTAINER = {"Image": "img", "ModelDataUrl": "s3://b/models/m/model.tar.gz"}


@pytest.fixture(scope="module")
def network(stack) -> dict[str, str]:
    ec2 = stack.client("ec2")
    vpcs = [ec2.create_vpc(CidrBlock=f"10.{60 + i}.0.0/16")["Vpc"]["VpcId"] for i in range(2)]
    subnet = ec2.create_subnet(VpcId=vpcs[0], CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    groups = [
        ec2.create_security_group(GroupName=f"models-{uuid.uuid4().hex[:6]}", Description="m", VpcId=v)["GroupId"]
        for v in vpcs
    ]
    return {"subnet": subnet, "group": groups[0], "other_vpc_group": groups[1]}


def _create(stack, vpc_config: dict) -> dict:
    name = f"vpc-model-{uuid.uuid4().hex[:6]}"
    sagemaker = stack.client("sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER, VpcConfig=vpc_config)
    return sagemaker.describe_model(ModelName=name)


def test_a_model_runs_in_existing_subnets_and_security_groups_of_one_vpc(stack, network):
    config = {"Subnets": [network["subnet"]], "SecurityGroupIds": [network["group"]]}
    assert _create(stack, config)["VpcConfig"] == config
    for bad, reason in (
        ({"Subnets": ["subnet-00000000"], "SecurityGroupIds": [network["group"]]}, "subnet subnet-00000000 does"),
        ({"Subnets": [network["subnet"]], "SecurityGroupIds": ["sg-00000000"]}, "security group sg-00000000 does"),
        ({"Subnets": [network["subnet"]], "SecurityGroupIds": [network["other_vpc_group"]]}, "different VPCs"),
    ):
        with pytest.raises(ClientError, match=reason):
            _create(stack, bad)
