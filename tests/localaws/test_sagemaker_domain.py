"""SageMaker Studio domains and user profiles as SageMaker creates them: every CreateDomain /
CreateUserProfile rule refuses with SageMaker's error code, and what is created is describable,
listed and goes Pending -> InService."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

TRUST_SAGEMAKER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(autouse=True)
def _short_status_delay(monkeypatch):
    monkeypatch.setenv("LOCALAWS_SAGEMAKER_STUDIO_DELAY_S", "0.3")


@pytest.fixture
def network(stack):
    """A VPC with two subnets, a security group in it, one in another VPC, and SageMaker's role."""
    ec2, iam = stack.client("ec2"), stack.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    group = ec2.create_security_group(GroupName=f"studio-{uuid.uuid4().hex[:6]}", Description="d", VpcId=vpc)
    other_vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.78.1.0/24")["Subnet"]["SubnetId"]
    other_group = ec2.create_security_group(GroupName=f"o-{uuid.uuid4().hex[:6]}", Description="d", VpcId=other_vpc)
    role = iam.create_role(
        RoleName=f"studio-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER)
    )
    untrusting = iam.create_role(
        RoleName=f"nottrusting-{uuid.uuid4().hex[:6]}",
        AssumeRolePolicyDocument=json.dumps(
            {
                **TRUST_SAGEMAKER,
                "Statement": [{**TRUST_SAGEMAKER["Statement"][0], "Principal": {"Service": "ecs-tasks.amazonaws.com"}}],
            }
        ),
    )
    return {
        "vpc": vpc,
        "subnets": subnets,
        "group": group["GroupId"],
        "other_subnet": other_subnet,
        "other_group": other_group["GroupId"],
        "role": role["Role"]["Arn"],
        "untrusting_role": untrusting["Role"]["Arn"],
    }


def domain_request(network, **overrides) -> dict:
    request = {
        "DomainName": f"studio-{uuid.uuid4().hex[:8]}",
        "AuthMode": "IAM",
        "AppNetworkAccessType": "VpcOnly",
        "VpcId": network["vpc"],
        "SubnetIds": network["subnets"],
        "DefaultUserSettings": {"ExecutionRole": network["role"], "SecurityGroups": [network["group"]]},
    }
    request.update(overrides)
    return {k: v for k, v in request.items() if v is not None}


def refused(call, code: str, *fragments: str) -> str:
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response["Error"]
    assert error["Code"] == code, error
    for fragment in fragments:
        assert fragment in error["Message"], error["Message"]
    return error["Message"]


def wait_status(read, wanted: str, key: str = "Status", timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found[key] == wanted:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not {wanted}: {found[key]}")


def test_created_domain_is_describable_listed_and_goes_in_service(stack, network):
    sm = stack.client("sagemaker")
    request = domain_request(network)
    created = sm.create_domain(**request)
    assert created["DomainId"].startswith("d-") and len(created["DomainId"]) == 14
    assert created["DomainArn"].endswith(f":domain/{created['DomainId']}")
    assert created["Url"].startswith(f"https://{created['DomainId']}.studio.")
    described = sm.describe_domain(DomainId=created["DomainId"])
    assert described["Status"] == "Pending"
    assert described["DomainName"] == request["DomainName"]
    assert described["AppNetworkAccessType"] == "VpcOnly"
    assert described["DefaultUserSettings"]["SecurityGroups"] == [network["group"]]
    assert described["HomeEfsFileSystemId"].startswith("fs-")
    wait_status(lambda: sm.describe_domain(DomainId=created["DomainId"]), "InService")
    listed = {d["DomainId"]: d for d in sm.list_domains()["Domains"]}
    assert listed[created["DomainId"]]["DomainName"] == request["DomainName"]


def test_vpc_only_without_security_groups_is_refused(stack, network):
    sm = stack.client("sagemaker")
    request = domain_request(network, DefaultUserSettings={"ExecutionRole": network["role"]})
    refused(lambda: sm.create_domain(**request), "ValidationException", "SecurityGroups", "VpcOnly")


def test_public_internet_only_needs_no_security_groups(stack, network):
    sm = stack.client("sagemaker")
    request = domain_request(
        network, AppNetworkAccessType="PublicInternetOnly", DefaultUserSettings={"ExecutionRole": network["role"]}
    )
    assert sm.create_domain(**request)["DomainId"].startswith("d-")


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"VpcId": "vpc-0000000000000dead"}, ("VPC vpc-0000000000000dead does not exist",)),
        ({"SubnetIds": ["subnet-0000000000dead"]}, ("subnet-0000000000dead does not exist",)),
        ({"VpcId": None}, ("VpcId and SubnetIds are required",)),
        ({"AuthMode": "LDAP"}, ("authMode", "SSO, IAM")),
        ({"AppNetworkAccessType": "Private"}, ("appNetworkAccessType",)),
        ({"DomainName": "bad_name!"}, ("domainName", "regular expression")),
        ({"KmsKeyId": "alias/no-such-key"}, ("KMS key alias/no-such-key does not exist",)),
    ],
)
def test_domain_validation(stack, network, overrides, fragments):
    sm = stack.client("sagemaker")
    refused(lambda: sm.create_domain(**domain_request(network, **overrides)), "ValidationException", *fragments)


def test_subnets_and_security_groups_must_be_in_the_domain_vpc(stack, network):
    sm = stack.client("sagemaker")
    refused(
        lambda: sm.create_domain(**domain_request(network, SubnetIds=[network["other_subnet"]])),
        "ValidationException",
        f"subnet {network['other_subnet']} is in vpc-",
        f"not in {network['vpc']}",
    )
    settings = {"ExecutionRole": network["role"], "SecurityGroups": [network["other_group"]]}
    refused(
        lambda: sm.create_domain(**domain_request(network, DefaultUserSettings=settings)),
        "ValidationException",
        network["other_group"],
        f"not in {network['vpc']}",
    )


def test_execution_role_must_exist_and_trust_sagemaker(stack, network):
    sm = stack.client("sagemaker")
    missing = network["role"].rsplit("/", 1)[0] + "/no-such-role"
    settings = {"ExecutionRole": missing, "SecurityGroups": [network["group"]]}
    refused(
        lambda: sm.create_domain(**domain_request(network, DefaultUserSettings=settings)),
        "ValidationException",
        "does not exist",
    )
    settings = {"ExecutionRole": network["untrusting_role"], "SecurityGroups": [network["group"]]}
    refused(
        lambda: sm.create_domain(**domain_request(network, DefaultUserSettings=settings)),
        "ValidationException",
        "sagemaker.amazonaws.com",
    )


def test_domain_names_are_unique(stack, network):
    sm = stack.client("sagemaker")
    request = domain_request(network)
    sm.create_domain(**request)
    refused(lambda: sm.create_domain(**request), "ResourceInUse", request["DomainName"])


def test_unknown_domain_is_not_found(stack):
    sm = stack.client("sagemaker")
    refused(lambda: sm.describe_domain(DomainId="d-000000000000"), "ResourceNotFound", "d-000000000000")
    refused(lambda: sm.delete_domain(DomainId="d-000000000000"), "ResourceNotFound")


def test_update_domain_validates_and_goes_updating(stack, network):
    sm = stack.client("sagemaker")
    domain_id = sm.create_domain(
        **domain_request(
            network, AppNetworkAccessType="PublicInternetOnly", DefaultUserSettings={"ExecutionRole": network["role"]}
        )
    )["DomainId"]
    wait_status(lambda: sm.describe_domain(DomainId=domain_id), "InService")
    refused(
        lambda: sm.update_domain(DomainId=domain_id, AppNetworkAccessType="VpcOnly"),
        "ValidationException",
        "VpcId and Subnet IDs are required for updating domains to VpcOnly mode.",
    )
    sm.update_domain(DomainId=domain_id, DefaultUserSettings={"SecurityGroups": [network["group"]]})
    assert sm.describe_domain(DomainId=domain_id)["Status"] == "Updating"
    described = wait_status(lambda: sm.describe_domain(DomainId=domain_id), "InService")
    assert described["DefaultUserSettings"] == {"ExecutionRole": network["role"], "SecurityGroups": [network["group"]]}


def test_user_profile_lifecycle_and_rules(stack, network):
    sm = stack.client("sagemaker")
    domain_id = sm.create_domain(**domain_request(network))["DomainId"]
    arn = sm.create_user_profile(DomainId=domain_id, UserProfileName="ml-engineer")["UserProfileArn"]
    assert arn.endswith(f":user-profile/{domain_id}/ml-engineer")
    described = sm.describe_user_profile(DomainId=domain_id, UserProfileName="ml-engineer")
    assert described["Status"] == "Pending" and described["UserProfileArn"] == arn
    wait_status(lambda: sm.describe_user_profile(DomainId=domain_id, UserProfileName="ml-engineer"), "InService")
    listed = sm.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]
    assert [p["UserProfileName"] for p in listed] == ["ml-engineer"]

    # names are unique in the domain regardless of case
    refused(lambda: sm.create_user_profile(DomainId=domain_id, UserProfileName="ML-Engineer"), "ResourceInUse")
    refused(
        lambda: sm.create_user_profile(DomainId=domain_id, UserProfileName="-bad"),
        "ValidationException",
        "userProfileName",
    )
    # the domain must exist; SSO fields only in SSO domains
    refused(
        lambda: sm.create_user_profile(DomainId="d-000000000000", UserProfileName="x"),
        "ValidationException",
        "does not exist",
    )
    refused(
        lambda: sm.create_user_profile(
            DomainId=domain_id, UserProfileName="sso", SingleSignOnUserIdentifier="UserName", SingleSignOnUserValue="jo"
        ),
        "ValidationException",
        "IAM authentication",
    )
    refused(
        lambda: sm.create_user_profile(
            DomainId=domain_id, UserProfileName="norole", UserSettings={"ExecutionRole": network["untrusting_role"]}
        ),
        "ValidationException",
        "sagemaker.amazonaws.com",
    )
    # a domain with profiles cannot be deleted; without, it can
    refused(lambda: sm.delete_domain(DomainId=domain_id), "ResourceInUse", "user profiles")
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="ml-engineer")
    refused(lambda: sm.describe_user_profile(DomainId=domain_id, UserProfileName="ml-engineer"), "ResourceNotFound")
    sm.delete_domain(DomainId=domain_id)
    refused(lambda: sm.describe_domain(DomainId=domain_id), "ResourceNotFound")


def test_user_profile_in_vpc_only_domain_needs_security_groups_somewhere(stack, network):
    sm = stack.client("sagemaker")
    domain_id = sm.create_domain(**domain_request(network))["DomainId"]
    # the domain's default security groups are enough
    sm.create_user_profile(DomainId=domain_id, UserProfileName="a")
    refused(
        lambda: sm.create_user_profile(
            DomainId=domain_id, UserProfileName="b", UserSettings={"SecurityGroups": [network["other_group"]]}
        ),
        "ValidationException",
        f"not in {network['vpc']}",
    )
