"""Application Auto Scaling of endpoint variants on the local stack: the calls validated as AWS does,
authorized by IAM (including the service-linked role), and driven by the project's hook as the
Airflow deployer role (infra/deployer.yaml)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.localaws.test_iam_enforcement import client_for, denied, session
from tests.localaws.test_sagemaker_endpoints import _config, _wait, models  # noqa: F401 - the module's fixture

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SLR = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
SLR_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
SCALING = {
    "Effect": "Allow",
    "Action": [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:DescribeScalableTargets",
    ],
    "Resource": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*",
    "Condition": {
        "StringEquals": {
            "application-autoscaling:service-namespace": "sagemaker",
            "application-autoscaling:scalable-dimension": DIMENSION,
        }
    },
}
SERVICE_LINKED_ROLE = {
    "Effect": "Allow",
    "Action": "iam:CreateServiceLinkedRole",
    "Resource": f"arn:aws:iam::123456789012:role/aws-service-role/{SLR_SERVICE}/{SLR}",
    "Condition": {"StringLike": {"iam:AWSServiceName": SLR_SERVICE}},
}


def _target(endpoint: str, variant: str, **capacity) -> dict:
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{variant}",
        "ScalableDimension": DIMENSION,
        **capacity,
    }


def _policy(endpoint: str, variant: str, metric: str = "SageMakerVariantInvocationsPerInstance", value=100.0):
    return {
        **_target(endpoint, variant),
        "PolicyName": "invocations-per-instance",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
        },
    }


@pytest.fixture(scope="module")
def endpoint(stack, models):  # noqa: F811 - the imported fixture
    name = f"ep-scale-{uuid.uuid4().hex[:6]}"
    stack.client("sagemaker").create_endpoint(
        EndpointName=name,
        EndpointConfigName=_config(stack, ("champion", models["popularity"], 0.9), ("challenger", models["als"], 0.1)),
    )
    _wait(stack, name)
    yield name
    stack.client("sagemaker").delete_endpoint(EndpointName=name)


def test_variant_scaling_is_validated_and_needs_the_service_linked_role(stack, endpoint, models):  # noqa: F811
    scaling, iam = stack.client("application-autoscaling"), stack.client("iam")
    if SLR in {r["RoleName"] for r in iam.list_roles(PathPrefix="/aws-service-role/")["Roles"]}:
        iam.delete_service_linked_role(RoleName=SLR)  # an earlier test's registration made it
    _, without = session(stack, [SCALING])
    refused = denied(
        lambda: client_for(stack, "application-autoscaling", without).register_scalable_target(
            **_target(endpoint, "champion", MinCapacity=1, MaxCapacity=3)
        )
    )
    assert refused["Code"] == "AccessDeniedException" and "iam:CreateServiceLinkedRole" in refused["Message"]

    _, deployer = session(stack, [SCALING, SERVICE_LINKED_ROLE])
    as_deployer = client_for(stack, "application-autoscaling", deployer)
    for bad, reason in (
        (_target("no-such-endpoint", "champion", MinCapacity=1, MaxCapacity=3), "Endpoint no-such-endpoint does not"),
        (_target(endpoint, "ghost", MinCapacity=1, MaxCapacity=3), "The variant ghost does not exist"),
        (_target(endpoint, "champion"), "MinCapacity and MaxCapacity are required"),
        (_target(endpoint, "champion", MinCapacity=4, MaxCapacity=2), "MinCapacity 4 cannot be greater"),
    ):
        with pytest.raises(ClientError, match=reason):
            as_deployer.register_scalable_target(**bad)
    other = denied(  # the grant's conditions: SageMaker variants only
        lambda: as_deployer.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId="table/orders",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            MinCapacity=1,
            MaxCapacity=5,
        )
    )
    assert other["Code"] == "AccessDeniedException"

    for variant in ("champion", "challenger"):
        as_deployer.register_scalable_target(**_target(endpoint, variant, MinCapacity=1, MaxCapacity=3))
    role = iam.get_role(RoleName=SLR)["Role"]
    assert role["Path"] == f"/aws-service-role/{SLR_SERVICE}/"
    with pytest.raises(ClientError, match="ECSServiceAverageCPUUtilization is not supported"):
        as_deployer.put_scaling_policy(**_policy(endpoint, "champion", metric="ECSServiceAverageCPUUtilization"))
    with pytest.raises(ClientError, match="must be greater than 0"):
        as_deployer.put_scaling_policy(**_policy(endpoint, "champion", value=0.0))
    for variant in ("champion", "challenger"):
        assert as_deployer.put_scaling_policy(**_policy(endpoint, variant))["PolicyARN"]

    # SageMaker refuses to remove a variant that is still a scalable target
    alone = _config(stack, ("champion", models["popularity"], 1.0))
    sagemaker = stack.client("sagemaker")
    with pytest.raises(ClientError, match=r"challenger.*must be deregistered as scalable targets"):
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=alone)
    as_deployer.deregister_scalable_target(**_target(endpoint, "challenger"))
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["ResourceId"] for p in policies if endpoint in p["ResourceId"]] == [
        f"endpoint/{endpoint}/variant/champion"
    ]  # deregistering removed the challenger's policy with it
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=alone)
    assert _wait(stack, endpoint)["EndpointConfigName"] == alone


def test_the_hook_registers_and_releases_variants_as_the_deployer(stack, endpoint, aws_conn):
    from mlops.hooks.endpoint_autoscaling import EndpointAutoScalingHook

    hook = EndpointAutoScalingHook(aws_conn_id="aws_default")
    settings = {
        "min_capacity": 1,
        "max_capacity": 2,
        "target_invocations": 50.0,
        "scale_out_cooldown_s": 60,
        "scale_in_cooldown_s": 300,
    }
    hook.register(endpoint, "champion", settings)
    hook.register(endpoint, "champion", settings)  # a rerun changes nothing
    assert "champion" in hook.registered_variants(endpoint)
    (target,) = [
        t
        for t in stack.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"
        ]
        if t["ResourceId"] == f"endpoint/{endpoint}/variant/champion"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    assert hook.release_all_but(endpoint, ["champion"]) == []
    assert hook.release_all_but(endpoint, []) == ["champion"]
    assert hook.registered_variants(endpoint) == [] and not hook.deregister(endpoint, "champion")
