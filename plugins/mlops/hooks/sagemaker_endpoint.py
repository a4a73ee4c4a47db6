"""Idempotent SageMaker endpoint deployment: models and configs by name, create-or-update, weights.

The provider's SageMakerHook owns the client; this adds what a rerun-safe A/B rollout needs and it
lacks: describe-or-create for models and endpoint configs (names are per model version, so an
existing one is reused, and one that differs is an error rather than a silent overwrite), a
create-or-update that does nothing when the endpoint already runs the wanted config, and
UpdateEndpointWeightsAndCapacities.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.common.compat.sdk import AirflowException


class EndpointConflict(AirflowException):
    """A named SageMaker resource exists with different settings: names must be per version."""


class EndpointNotFound(AirflowException):
    """The endpoint to change does not exist."""


class EndpointRolloutFailed(AirflowException):
    """The endpoint did not reach the wanted state (failed, or rolled back to its previous config)."""


def _not_found(err) -> bool:
    error = err.response.get("Error", {})
    return error.get("Code") in ("ValidationException", "ValidationError") and "Could not find" in error.get(
        "Message", ""
    )


def _network(vpc_config: dict | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    config = vpc_config or {}
    return tuple(sorted(config.get("Subnets") or [])), tuple(sorted(config.get("SecurityGroupIds") or []))


class SageMakerEndpointHook(SageMakerHook):
    def ensure_model(
        self,
        name: str,
        image: str,
        model_data_url: str,
        role_arn: str,
        environment: dict,
        vpc_config: dict[str, list[str]] | None = None,
    ) -> bool:
        """Create the model (in the VPC's subnets when `vpc_config` is given) unless it exists with the
        same artifact and network; True when created."""
        try:
            existing = self.conn.describe_model(ModelName=name)
        except self.conn.exceptions.ClientError as err:
            if not _not_found(err):
                raise
        else:
            container = existing.get("PrimaryContainer", {})
            if container.get("ModelDataUrl") != model_data_url or container.get("Image") != image:
                raise EndpointConflict(
                    f"SageMaker model {name!r} exists with image {container.get('Image')!r} and artifact "
                    f"{container.get('ModelDataUrl')!r}, not {image!r} / {model_data_url!r}"
                )
            if _network(existing.get("VpcConfig")) != _network(vpc_config):
                raise EndpointConflict(
                    f"SageMaker model {name!r} exists with VpcConfig {existing.get('VpcConfig')}, not {vpc_config}"
                )
            return False
        self.conn.create_model(
            ModelName=name,
            ExecutionRoleArn=role_arn,
            PrimaryContainer={"Image": image, "ModelDataUrl": model_data_url, "Environment": environment},
            **({"VpcConfig": vpc_config} if vpc_config else {}),
        )
        return True

    def ensure_endpoint_config(self, name: str, variants: list[dict[str, Any]]) -> bool:
        """Create the config unless it exists with the same variants; True when created."""
        try:
            existing = self.conn.describe_endpoint_config(EndpointConfigName=name)
        except self.conn.exceptions.ClientError as err:
            if not _not_found(err):
                raise
        else:
            keys = ("VariantName", "ModelName", "InitialVariantWeight")

            def shape(items):
                return [{k: (float(v[k]) if k == "InitialVariantWeight" else v[k]) for k in keys} for v in items]

            if shape(existing["ProductionVariants"]) != shape(variants):
                raise EndpointConflict(
                    f"endpoint config {name!r} exists with variants {shape(existing['ProductionVariants'])}, "
                    f"not {shape(variants)}"
                )
            return False
        self.conn.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
        return True

    def find_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            return self.conn.describe_endpoint(EndpointName=name)
        except self.conn.exceptions.ClientError as err:
            if _not_found(err):
                return None
            raise

    def deploy(self, endpoint_name: str, config_name: str) -> str:
        """Point the endpoint at the config: "created", "updated", or "unchanged" (nothing to wait for
        unless the endpoint is still on its way there)."""
        current = self.find_endpoint(endpoint_name)
        if current is None:
            self.conn.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
            return "created"
        if current["EndpointConfigName"] == config_name and current["EndpointStatus"] != "Failed":
            return "unchanged"
        if current["EndpointStatus"] == "Failed":
            self.conn.delete_endpoint(EndpointName=endpoint_name)
            self.get_waiter("endpoint_deleted").wait(EndpointName=endpoint_name)
            self.conn.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
            return "created"
        self.conn.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        return "updated"

    @staticmethod
    def weights_of(endpoint: dict[str, Any]) -> dict[str, float]:
        return {v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in endpoint.get("ProductionVariants", [])}

    def set_weights(self, endpoint_name: str, weights: dict[str, float]) -> bool:
        """UpdateEndpointWeightsAndCapacities unless the weights are already so; True when sent."""
        current = self.find_endpoint(endpoint_name)
        if current is None:
            raise EndpointNotFound(f"endpoint {endpoint_name!r} does not exist")
        missing = sorted(set(weights) - set(self.weights_of(current)))
        if missing:
            raise EndpointConflict(
                f"endpoint {endpoint_name!r} has no variant(s) {missing} (it serves {sorted(self.weights_of(current))})"
            )
        if all(abs(self.weights_of(current)[k] - float(w)) < 1e-9 for k, w in weights.items()):
            return False
        self.conn.update_endpoint_weights_and_capacities(
            EndpointName=endpoint_name,
            DesiredWeightsAndCapacities=[{"VariantName": k, "DesiredWeight": float(w)} for k, w in weights.items()],
        )
        return True

    # --- clean-up: models and configs are free to keep but pile up, one per version and split -----
    def named_endpoint_configs(self, prefix: str) -> list[str]:
        pages = self.conn.get_paginator("list_endpoint_configs").paginate(NameContains=prefix)
        names = (c["EndpointConfigName"] for p in pages for c in p["EndpointConfigs"])
        return sorted(name for name in names if name.startswith(prefix))

    def named_models(self, prefix: str) -> list[str]:
        pages = self.conn.get_paginator("list_models").paginate(NameContains=prefix)
        return sorted(m["ModelName"] for p in pages for m in p["Models"] if m["ModelName"].startswith(prefix))

    def delete_configs_and_models(self, configs: list[str], models: list[str]) -> dict[str, list[str]]:
        """Delete the configs, then the models (a config names models); one already gone is skipped."""
        deleted: dict[str, list[str]] = {"endpoint_configs": [], "models": []}
        for kind, names, call, key in (
            ("endpoint_configs", configs, self.conn.delete_endpoint_config, "EndpointConfigName"),
            ("models", models, self.conn.delete_model, "ModelName"),
        ):
            for name in names:
                try:
                    call(**{key: name})
                except self.conn.exceptions.ClientError as err:
                    if not _not_found(err):
                        raise
                    continue
                deleted[kind].append(name)
        return deleted

    def superseded(self, endpoint_name: str) -> dict[str, list[str]] | None:
        """The endpoint's configs and models (named `<endpoint>-...`) that the live endpoint does not
        reference; None while the endpoint is absent or not InService (an update may still need
        its previous config to roll back to)."""
        current = self.find_endpoint(endpoint_name)
        if current is None or current["EndpointStatus"] != "InService":
            return None
        live_config = current["EndpointConfigName"]
        variants = self.conn.describe_endpoint_config(EndpointConfigName=live_config)["ProductionVariants"]
        live_models = {v["ModelName"] for v in variants}
        prefix = endpoint_name + "-"
        return {
            "endpoint_configs": [c for c in self.named_endpoint_configs(prefix) if c != live_config],
            "models": [m for m in self.named_models(prefix) if m not in live_models],
        }
