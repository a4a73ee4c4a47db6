"""IAM's policy evaluation logic, with the examples of the IAM User Guide ("Policy evaluation logic",
"IAM JSON policy elements", "Condition operators")."""

from __future__ import annotations

import pytest

from localaws.iam.policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Request, evaluate
from localaws.iam.principals import Principal, root, service_principal

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Worker"
SESSION = Principal(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/job",
    account_id=ACCOUNT,
    kind="assumed-role",
    name="Worker",
    role_arn=ROLE,
    session_name="job",
)
OTHER = Principal(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/job",
    account_id=ACCOUNT,
    kind="assumed-role",
    name="Other",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/Other",
    session_name="job",
)


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(identity, action, resource, context=None, principal=SESSION, resource_policy=None, **kw):
    request = Request(principal, action, resource, context or {})
    return evaluate(request, identity, resource_policy, **kw)


def test_no_policy_is_an_implicit_deny_naming_the_action():
    decision = decide([], "s3:GetObject", "arn:aws:s3:::b/k")
    assert decision.effect == IMPLICIT_DENY
    assert decision.reason == "because no identity-based policy allows the s3:GetObject action"


def test_an_allow_allows_and_an_explicit_deny_wins_over_it():
    allowing = policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    assert decide([allowing], "s3:GetObject", "arn:aws:s3:::b/k").effect == ALLOW
    denying = policy(deny("s3:*", "arn:aws:s3:::b/secret/*"))
    decision = decide([allowing, denying], "s3:GetObject", "arn:aws:s3:::b/secret/k")
    assert decision.effect == EXPLICIT_DENY
    assert decision.reason == "with an explicit deny in an identity-based policy"
    assert decide([allowing, denying], "s3:GetObject", "arn:aws:s3:::b/public/k").effect == ALLOW


def test_actions_match_case_insensitively_with_wildcards_resources_case_sensitively():
    identity = [policy(allow("S3:Get*", "arn:aws:s3:::b/Data/*"), allow("ssm:GetParamete?", "*"))]
    assert decide(identity, "s3:GetObject", "arn:aws:s3:::b/Data/x/y.csv").allowed
    assert not decide(identity, "s3:GetObject", "arn:aws:s3:::b/data/x.csv").allowed
    assert not decide(identity, "s3:PutObject", "arn:aws:s3:::b/Data/x.csv").allowed
    assert decide(identity, "ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/a").allowed
    assert not decide(identity, "ssm:GetParameters", "arn:aws:ssm:us-east-1:1:parameter/a").allowed


def test_a_bucket_wide_resource_does_not_cover_its_objects():
    identity = [policy(allow("s3:*", "arn:aws:s3:::b"))]
    assert decide(identity, "s3:ListBucket", "arn:aws:s3:::b").allowed
    assert not decide(identity, "s3:GetObject", "arn:aws:s3:::b/k").allowed


def test_not_action_allows_everything_else_and_not_resource_everywhere_else():
    # The guide's example: everything but IAM.
    identity = [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]
    assert decide(identity, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert not decide(identity, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x").allowed
    # Deny with NotResource: everything outside the bucket.
    fenced = [
        policy(
            allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}
        )
    ]
    assert decide(fenced, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert decide(fenced, "s3:GetObject", "arn:aws:s3:::other/k").effect == EXPLICIT_DENY


def test_string_like_condition_on_a_service_key():
    identity = [
        policy(
            allow(
                "cloudwatch:PutMetricData",
                Condition={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "MLOps/*"]}},
            )
        )
    ]
    assert decide(identity, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": ["MLOps/Training"]}).allowed
    assert not decide(identity, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": ["AWS/EC2"]}).allowed
    assert not decide(identity, "cloudwatch:PutMetricData", "*").allowed  # key absent: the condition is false


def test_condition_keys_are_case_insensitive_and_blocks_are_anded():
    condition = {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    identity = [policy(allow("iam:PassRole", ROLE, Condition=condition))]
    context = {"IAM:passedToService": ["sagemaker.amazonaws.com"], "aws:securetransport": ["true"]}
    assert decide(identity, "iam:PassRole", ROLE, context).allowed
    context["aws:securetransport"] = ["false"]
    assert not decide(identity, "iam:PassRole", ROLE, context).allowed


def test_negated_operators_hold_when_the_key_is_absent_if_exists_when_absent_or_matching():
    not_equals = [policy(allow("s3:GetObject", Condition={"StringNotEquals": {"s3:prefix": "private/"}}))]
    assert decide(not_equals, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert not decide(not_equals, "s3:GetObject", "arn:aws:s3:::b/k", {"s3:prefix": ["private/"]}).allowed
    if_exists = [
        policy(allow("ec2:RunInstances", Condition={"StringEqualsIfExists": {"ec2:InstanceType": ["t3.micro"]}}))
    ]
    assert decide(if_exists, "ec2:RunInstances", "*").allowed
    assert decide(if_exists, "ec2:RunInstances", "*", {"ec2:InstanceType": ["t3.micro"]}).allowed
    assert not decide(if_exists, "ec2:RunInstances", "*", {"ec2:InstanceType": ["m5.24xlarge"]}).allowed


def test_null_arn_numeric_date_ip_and_set_operators():
    def allowed(condition: dict, context: dict) -> bool:
        return decide([policy(allow("x:Y", Condition=condition))], "x:Y", "*", context).allowed

    assert allowed({"Null": {"aws:TokenIssueTime": "true"}}, {})
    assert not allowed({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": ["2026-01-01T00:00:00Z"]})
    source = {"aws:SourceArn": ["arn:aws:ecs:us-east-1:123456789012:task/c/abc"]}
    assert allowed({"ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"}}, source)
    assert not allowed({"ArnLike": {"aws:SourceArn": "arn:aws:ecs:eu-west-1:123456789012:*"}}, source)
    assert allowed({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["7"]})
    assert not allowed({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["70"]})
    assert allowed(
        {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": ["2026-12-03T12:00:00Z"]}
    )
    assert allowed({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": ["10.1.2.3"]})
    assert not allowed({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": ["10.1.2.3"]})
    tags = {"aws:TagKeys": ["env", "team"]}
    assert allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team", "cost"]}}, tags)
    assert not allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, tags)
    assert allowed({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {})  # vacuously true
    assert not allowed({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, {})


def test_policy_variables_take_the_request_value():
    user = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account_id=ACCOUNT, kind="user", name="alice")
    identity = [policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    context = {"aws:username": ["alice"]}
    assert decide(identity, "s3:GetObject", "arn:aws:s3:::home/alice/k", context, principal=user).allowed
    assert not decide(identity, "s3:GetObject", "arn:aws:s3:::home/bob/k", context, principal=user).allowed
    assert not decide(identity, "s3:GetObject", "arn:aws:s3:::home/alice/k", {}, principal=user).allowed


def test_secure_transport_deny_in_a_bucket_policy_applies_to_every_principal():
    bucket = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = [policy(allow("s3:*"))]
    plain = decide(
        identity, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": ["false"]}, resource_policy=bucket
    )
    assert plain.effect == EXPLICIT_DENY
    assert plain.reason == "with an explicit deny in a resource-based policy"
    tls = decide(
        identity, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": ["true"]}, resource_policy=bucket
    )
    assert tls.allowed


def test_a_resource_policy_naming_the_role_allows_in_the_same_account_naming_the_account_does_not():
    names_role = policy(allow("sns:Publish", "*", Principal={"AWS": ROLE}))
    assert decide([], "sns:Publish", "arn:aws:sns:us-east-1:1:t", resource_policy=names_role).allowed
    assert not decide(
        [], "sns:Publish", "arn:aws:sns:us-east-1:1:t", principal=OTHER, resource_policy=names_role
    ).allowed
    names_account = policy(allow("sns:Publish", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    assert not decide([], "sns:Publish", "arn:aws:sns:us-east-1:1:t", resource_policy=names_account).allowed
    granted = [policy(allow("sns:Publish"))]
    assert decide(granted, "sns:Publish", "arn:aws:sns:us-east-1:1:t", resource_policy=names_account).allowed


def test_trust_policy_must_allow_account_principal_delegates_to_the_identity_policy():
    trust_account = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    may_assume = [policy(allow("sts:AssumeRole", ROLE))]
    kw = {"resource_policy_must_allow": True}
    assert decide(may_assume, "sts:AssumeRole", ROLE, resource_policy=trust_account, **kw).allowed
    refused = decide([], "sts:AssumeRole", ROLE, resource_policy=trust_account, **kw)
    assert refused.reason == "because no identity-based policy allows the sts:AssumeRole action"
    trusts_a_service = policy(
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    refused = decide(may_assume, "sts:AssumeRole", ROLE, resource_policy=trusts_a_service, **kw)
    assert refused.reason == "because no resource-based policy allows the sts:AssumeRole action"
    ecs = service_principal("ecs-tasks.amazonaws.com", ACCOUNT)
    assert decide([], "sts:AssumeRole", ROLE, principal=ecs, resource_policy=trusts_a_service, **kw).allowed
    sagemaker = service_principal("sagemaker.amazonaws.com", ACCOUNT)
    assert not decide([], "sts:AssumeRole", ROLE, principal=sagemaker, resource_policy=trusts_a_service, **kw).allowed


def test_not_principal_deny_spares_the_named_principal():
    bucket = policy({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"})
    identity = [policy(allow("s3:*"))]
    assert decide(identity, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).allowed
    denied = decide(identity, "s3:GetObject", "arn:aws:s3:::b/k", principal=OTHER, resource_policy=bucket)
    assert denied.effect == EXPLICIT_DENY


def test_a_session_policy_narrows_the_role():
    role = [policy(allow("s3:*"))]
    narrow = [policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))]
    assert decide(role, "s3:GetObject", "arn:aws:s3:::b/k", session_policies=narrow).allowed
    assert not decide(role, "s3:PutObject", "arn:aws:s3:::b/k", session_policies=narrow).allowed
    assert not decide([], "s3:GetObject", "arn:aws:s3:::b/k", session_policies=narrow).allowed


def test_a_single_statement_object_and_string_elements_are_accepted():
    identity = [
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}}
    ]
    assert decide(identity, "ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/p").allowed


def test_root_is_named_by_the_account():
    assert root(ACCOUNT).is_root
    assert root(ACCOUNT).arn == f"arn:aws:iam::{ACCOUNT}:root"


def test_an_unknown_operator_is_an_error_not_a_silent_match():
    with pytest.raises(ValueError, match="StringSortOf"):
        decide([policy(allow("x:Y", Condition={"StringSortOf": {"k": "v"}}))], "x:Y", "*", {"k": ["v"]})
