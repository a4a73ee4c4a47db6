"""Operators that roll models out on one SageMaker endpoint, safe to rerun, waiting in the triggerer.

`SageMakerDeployEndpointOperator` creates the variants' models and the endpoint config when absent
and creates or updates the endpoint (the provider's SageMakerEndpointOperator fails on a rerun
because it always creates). `SageMakerEndpointWeightsOperator` shifts traffic between variants
with UpdateEndpointWeightsAndCapacities, which the provider has no operator for. Both defer to the
provider's SageMakerTrigger (endpoint InService) and check, on completion, that the endpoint
really reached the wanted state: SageMaker rolls a failed update back to InService on the old
config, which a status check alone would take for success. The operators' `region_name`, `verify`
and `botocore_config` reach their hook (built once per task) and the trigger alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from mlops.hooks.sagemaker_endpoint import EndpointRolloutFailed, SageMakerEndpointHook


class _EndpointOperator(AwsBaseOperator[SageMakerEndpointHook]):
    """
    :param endpoint_name: the endpoint to change
    :param check_interval: seconds between status checks while waiting for InService
    :param max_wait: how long the endpoint may take to get there
    :param deferrable: wait in the triggerer (True) or in the worker with the same waiter
    """

    aws_hook_class = SageMakerEndpointHook
    ui_color = "#e8d3f0"

    def __init__(
        self,
        *,
        endpoint_name: str,
        check_interval: int = 30,
        max_wait: timedelta = timedelta(hours=1),
        deferrable: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self.check_interval = check_interval
        self.max_wait = max_wait
        self.deferrable = deferrable

    def _wait(self) -> dict[str, Any] | None:
        attempts = max(1, int(self.max_wait.total_seconds() // self.check_interval))
        if self.deferrable:
            self.defer(
                trigger=SageMakerTrigger(
                    job_name=self.endpoint_name,
                    job_type="endpoint",
                    waiter_delay=self.check_interval,
                    waiter_max_attempts=attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
                timeout=self.max_wait,
            )
        self.hook.get_waiter("endpoint_in_service").wait(
            EndpointName=self.endpoint_name, WaiterConfig={"Delay": self.check_interval, "MaxAttempts": attempts}
        )
        return self.execute_complete(None, {"status": "success", "job_name": self.endpoint_name})

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            endpoint = self.hook.find_endpoint(self.endpoint_name) or {}
            raise EndpointRolloutFailed(
                f"endpoint {self.endpoint_name} did not reach InService: {event}; "
                f"status {endpoint.get('EndpointStatus')}, reason: {endpoint.get('FailureReason', 'none given')}"
            )
        return self.confirm(self.hook.find_endpoint(self.endpoint_name) or {})

    def confirm(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        """Fail unless the endpoint is as this task wanted it (a rolled-back update is InService too);
        returns the XCom."""
        raise NotImplementedError


class SageMakerDeployEndpointOperator(_EndpointOperator):
    """
    :param endpoint_name: endpoint to create or update
    :param endpoint_config_name: config to create (if absent) and deploy; name it per model set
    :param models: per variant model, `{"name", "image", "model_data_url", "role_arn", "environment"}`
    :param variants: ProductionVariants of the config (VariantName, ModelName, weights, instances)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "endpoint_name", "endpoint_config_name", "models", "variants", "autoscaling"
    )
    template_fields_renderers = {"models": "json", "variants": "json", "autoscaling": "json"}

    def __init__(
        self,
        *,
        endpoint_config_name: str,
        models: list[dict[str, Any]],
        variants: list[dict[str, Any]],
        autoscaling: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_config_name = endpoint_config_name
        self.models = models
        self.variants = variants
        self.autoscaling = autoscaling

    @property
    def scaling_hook(self):
        from mlops.hooks.endpoint_autoscaling import EndpointAutoScalingHook

        return EndpointAutoScalingHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def execute(self, context) -> dict[str, Any] | None:
        hook = self.hook
        if self.autoscaling is not None and hook.find_endpoint(self.endpoint_name):
            # SageMaker refuses to remove a variant still registered with Application Auto Scaling
            released = self.scaling_hook.release_all_but(self.endpoint_name, [v["VariantName"] for v in self.variants])
            if released:
                self.log.info("endpoint %s: auto scaling deregistered for %s", self.endpoint_name, released)
        for model in self.models:
            created = hook.ensure_model(
                model["name"],
                model["image"],
                model["model_data_url"],
                model["role_arn"],
                model.get("environment", {}),
                vpc_config=model.get("vpc_config"),
            )
            self.log.info("model %s: %s", model["name"], "created" if created else "exists, reused")
        created = hook.ensure_endpoint_config(self.endpoint_config_name, self.variants)
        self.log.info("endpoint config %s: %s", self.endpoint_config_name, "created" if created else "exists, reused")
        action = hook.deploy(self.endpoint_name, self.endpoint_config_name)
        self.log.info("endpoint %s: %s (config %s)", self.endpoint_name, action, self.endpoint_config_name)
        endpoint = hook.find_endpoint(self.endpoint_name) or {}
        if action == "unchanged" and endpoint.get("EndpointStatus") == "InService":
            return self.confirm(endpoint)
        return self._wait()

    def confirm(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        if endpoint.get("EndpointConfigName") != self.endpoint_config_name:
            raise EndpointRolloutFailed(
                f"endpoint {self.endpoint_name} stayed on config {endpoint.get('EndpointConfigName')!r} instead of "
                f"{self.endpoint_config_name!r}: the update was rolled back. Reason: "
                f"{endpoint.get('FailureReason', 'none given')}"
            )
        weights = SageMakerEndpointHook.weights_of(endpoint)
        self.log.info("endpoint %s InService on %s, weights %s", self.endpoint_name, self.endpoint_config_name, weights)
        if self.autoscaling is not None:  # the variants exist now: register them (idempotent)
            for variant in self.variants:
                self.scaling_hook.register(self.endpoint_name, variant["VariantName"], self.autoscaling)
        return {"endpoint": self.endpoint_name, "config": self.endpoint_config_name, "weights": weights}


class SageMakerEndpointWeightsOperator(_EndpointOperator):
    """
    :param weights: desired weight per variant name (variants left out keep theirs)
    """

    template_fields: Sequence[str] = aws_template_fields("endpoint_name", "weights")

    def __init__(self, *, weights: dict[str, float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.weights = weights

    def execute(self, context) -> dict[str, Any] | None:
        weights = {name: float(w) for name, w in self.weights.items()}
        if not self.hook.set_weights(self.endpoint_name, weights):
            self.log.info("endpoint %s already has weights %s", self.endpoint_name, weights)
            return self.confirm(self.hook.find_endpoint(self.endpoint_name) or {})
        self.log.info("endpoint %s: shifting weights to %s", self.endpoint_name, weights)
        return self._wait()

    def confirm(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        current = SageMakerEndpointHook.weights_of(endpoint)
        wrong = {k: current.get(k) for k, w in self.weights.items() if abs(current.get(k, -1) - float(w)) > 1e-9}
        if wrong:
            raise EndpointRolloutFailed(f"endpoint {self.endpoint_name} weights are {current}, not {self.weights}")
        return {"endpoint": self.endpoint_name, "weights": current}
