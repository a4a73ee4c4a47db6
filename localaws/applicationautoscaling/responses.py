"""Application Auto Scaling calls on SageMaker endpoint variants, checked before moto keeps them.

moto stores scalable targets and policies without looking at what they scale. AWS refuses, and so
does the local stack here (API reference of RegisterScalableTarget / PutScalingPolicy, SageMaker's
"Automatic scaling of Amazon SageMaker AI models"):
- RegisterScalableTarget on `endpoint/<name>/variant/<variant>` when the endpoint or the variant
  does not exist, when a new target lacks MinCapacity/MaxCapacity, when MinCapacity > MaxCapacity
  or MinCapacity < 1 (a SageMaker variant cannot scale to zero instances this way);
- the first registration creates the service-linked role
  `AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint` (IAM checks the caller may:
  localaws.iam.operations);
- PutScalingPolicy for an unregistered target, with a predefined metric of another service, or a
  TargetValue that is not positive;
- DeregisterScalableTarget also deletes the target's scaling policies, as AWS does.
Other namespaces and operations are moto's unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from localaws.wire import ApiCall, AwsError, Operations

operations = Operations()

SLR_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
SLR_NAME = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
SAGEMAKER_METRICS = (
    "SageMakerVariantInvocationsPerInstance",
    "SageMakerVariantProvisionedConcurrencyUtilization",
    "SageMakerInferenceComponentInvocationsPerCopy",
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution",
    "SageMakerVariantConcurrentRequestsPerModelHighResolution",
)


def _moto(call: ApiCall):
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    return applicationautoscaling_backends[call.account_id][call.region]


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def _variant(call: ApiCall, resource_id: str) -> tuple[str, str]:
    parts = resource_id.split("/")
    if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant":
        raise _invalid(f"Unsupported resource ID {resource_id!r}: expected endpoint/<endpoint>/variant/<variant>")
    endpoints = call.stack.backend("sagemaker-endpoints", call.account_id, call.region)
    try:
        endpoint = endpoints.describe(parts[1])
    except AwsError as err:
        raise _invalid(f"Endpoint {parts[1]} does not exist ({resource_id})") from err
    if parts[3] not in endpoint.variants:
        raise _invalid(f"The variant {parts[3]} does not exist in endpoint {parts[1]} ({resource_id})")
    return parts[1], parts[3]


def registered(call_account: str, region: str, endpoint: str) -> set[str]:
    """The endpoint's variants registered as scalable targets (SageMaker's UpdateEndpoint asks)."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[call_account][region]
    prefix = f"endpoint/{endpoint}/variant/"
    return {
        rid[len(prefix) :]
        for rid in backend.targets.get("sagemaker:variant:DesiredInstanceCount", {})
        if rid.startswith(prefix)
    }


def _ensure_service_linked_role(call: ApiCall) -> None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    iam = iam_backends[call.account_id][get_partition(call.region)]
    if any(role.name == SLR_NAME for role in iam.roles.values()):
        return
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [SLR_SERVICE]}, "Action": ["sts:AssumeRole"]}],
    }
    iam.create_role(
        SLR_NAME,
        json.dumps(trust),
        f"/aws-service-role/{SLR_SERVICE}/",
        permissions_boundary=None,
        description="Application Auto Scaling of SageMaker endpoint variants",
        tags=[],
        max_session_duration="3600",
        linked_service=SLR_SERVICE,
    )


@operations.handles("application-autoscaling", "RegisterScalableTarget")
def register_scalable_target(call: ApiCall) -> dict[str, Any]:
    p = call.params
    backend = _moto(call)
    if p["ServiceNamespace"] == "sagemaker":
        _variant(call, p["ResourceId"])
        exists = p["ResourceId"] in backend.targets.get(p["ScalableDimension"], {})
        low, high = p.get("MinCapacity"), p.get("MaxCapacity")
        if not exists and (low is None or high is None):
            raise _invalid("MinCapacity and MaxCapacity are required to register a new scalable target")
        if exists:
            current = backend.targets[p["ScalableDimension"]][p["ResourceId"]]
            low = current.min_capacity if low is None else low
            high = current.max_capacity if high is None else high
        if int(low) < 1:
            raise _invalid(f"MinCapacity {low} is below 1: a SageMaker variant keeps at least one instance")
        if int(low) > int(high):
            raise _invalid(f"MinCapacity {low} cannot be greater than MaxCapacity {high}")
        _ensure_service_linked_role(call)
    target = backend.register_scalable_target(
        p["ServiceNamespace"],
        p["ResourceId"],
        p["ScalableDimension"],
        p.get("MinCapacity"),
        p.get("MaxCapacity"),
        p.get("RoleARN"),
        p.get("SuspendedState"),
    )
    return {"ScalableTargetARN": target.arn}


@operations.handles("application-autoscaling", "PutScalingPolicy")
def put_scaling_policy(call: ApiCall) -> dict[str, Any]:
    p = call.params
    backend = _moto(call)
    if p["ServiceNamespace"] == "sagemaker":
        if p["ResourceId"] not in backend.targets.get(p["ScalableDimension"], {}):
            raise AwsError(
                "ObjectNotFoundException",
                f"No scalable target registered for service namespace: sagemaker, resource ID: {p['ResourceId']}, "
                f"scalable dimension: {p['ScalableDimension']}",
                400,
            )
        tracking = p.get("TargetTrackingScalingPolicyConfiguration") or {}
        if p.get("PolicyType") == "TargetTrackingScaling":
            metric = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if metric is not None and metric not in SAGEMAKER_METRICS:
                raise _invalid(f"Predefined metric {metric} is not supported for service namespace sagemaker")
            if metric is None and not tracking.get("CustomizedMetricSpecification"):
                raise _invalid("A target tracking policy needs a predefined or customized metric")
            if not float(tracking.get("TargetValue", 0)) > 0:
                raise _invalid(f"TargetValue {tracking.get('TargetValue')} must be greater than 0")
    body = p.get("TargetTrackingScalingPolicyConfiguration") or p.get("StepScalingPolicyConfiguration") or {}
    policy = backend.put_scaling_policy(
        p["PolicyName"], p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"], body, p.get("PolicyType")
    )
    return {
        "PolicyARN": policy.policy_arn,
        "Alarms": [{"AlarmName": a.name, "AlarmARN": a.alarm_arn} for a in policy.alarms],
    }


@operations.handles("application-autoscaling", "DeregisterScalableTarget")
def deregister_scalable_target(call: ApiCall) -> dict[str, Any]:
    p = call.params
    backend = _moto(call)
    try:
        backend.deregister_scalable_target(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])
    except Exception as err:  # moto's AWSValidationException: no such target
        raise AwsError("ObjectNotFoundException", str(err), 400) from err
    for policy in list(backend.policies.values()):
        if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
            p["ServiceNamespace"],
            p["ResourceId"],
            p["ScalableDimension"],
        ):
            backend.delete_scaling_policy(
                policy.policy_name, policy.service_namespace, policy.resource_id, policy.scalable_dimension
            )
    return {}
