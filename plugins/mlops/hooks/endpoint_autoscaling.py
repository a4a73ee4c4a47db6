"""Application Auto Scaling of the endpoint's variants (the provider has no hook for it).

The variants are created at run time by ab_promotion (names `champion`/`challenger`, configs per
version), so their scaling cannot be declared in infra/: each deployment registers the variants of
the config it deploys as scalable targets (`sagemaker:variant:DesiredInstanceCount`) with a target
tracking policy on `SageMakerVariantInvocationsPerInstance`, and deregisters a variant before an
update removes it - SageMaker refuses to remove a variant still registered ("must be deregistered
as scalable targets ... before they can be removed"). Both are idempotent: a rerun changes nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from mlops.hooks.retries import with_retries

NAMESPACE, DIMENSION = "sagemaker", "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
POLICY_NAME = "invocations-per-instance"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


class EndpointAutoScalingHook(AwsBaseHook):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "application-autoscaling"
        super().__init__(*args, **kwargs)

    @property
    def config(self) -> Config:
        return with_retries(super().config)  # throttling: botocore's standard mode

    def registered_variants(self, endpoint: str) -> list[str]:
        """The endpoint's variants registered as scalable targets."""
        prefix = f"endpoint/{endpoint}/variant/"
        names = []
        for page in self.conn.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace=NAMESPACE, ScalableDimension=DIMENSION
        ):
            names += [
                t["ResourceId"][len(prefix) :] for t in page["ScalableTargets"] if t["ResourceId"].startswith(prefix)
            ]
        return sorted(names)

    def register(self, endpoint: str, variant: str, scaling: dict[str, Any]) -> None:
        """The variant as a scalable target (min..max instances) with its target tracking policy."""
        rid = resource_id(endpoint, variant)
        self.conn.register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            MinCapacity=int(scaling["min_capacity"]),
            MaxCapacity=int(scaling["max_capacity"]),
        )
        self.conn.put_scaling_policy(
            PolicyName=POLICY_NAME,
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(scaling["target_invocations"]),
                "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                "ScaleInCooldown": int(scaling["scale_in_cooldown_s"]),
                "ScaleOutCooldown": int(scaling["scale_out_cooldown_s"]),
            },
        )
        self.log.info(
            "%s: %s..%s instances, target %s invocations/instance",
            rid,
            scaling["min_capacity"],
            scaling["max_capacity"],
            scaling["target_invocations"],
        )

    def deregister(self, endpoint: str, variant: str) -> bool:
        """Remove the variant's scalable target (and with it its policies); False when none was there."""
        if variant not in self.registered_variants(endpoint):
            return False
        self.conn.deregister_scalable_target(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint, variant), ScalableDimension=DIMENSION
        )
        self.log.info("%s: deregistered", resource_id(endpoint, variant))
        return True

    def release_all_but(self, endpoint: str, keep: list[str]) -> list[str]:
        """Before an update to a config of `keep` variants: deregister every other one."""
        return [v for v in self.registered_variants(endpoint) if v not in keep and self.deregister(endpoint, v)]
