"""The rollout of a model version on the serving endpoint, as data: what to deploy, promote, roll back.

No champion yet, or the candidate *is* the champion: the version is deployed alone (variant
`champion`). Otherwise an A/B test: champion and challenger side by side at `traffic_share`, then
either the challenger alone (promote) or the champion alone (roll back / inconclusive). Every
SageMaker model and endpoint config is named after the endpoint, the model name, its versions and
split (`resource_name`), so a rerun finds the one it made and two models never share one. A hand
drop is never deployed as the first champion.

Versions are given as facts from the registry: `{"version": "3", "tags": {...}}`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

CHAMPION, CHALLENGER = "champion", "challenger"
FINAL_STATUS = {"promote": "promoted", "rollback": "rolled_back", "inconclusive": "inconclusive"}
APPROVAL = {"deploy": "Approved", "promote": "Approved", "rollback": "Rejected"}  # inconclusive: unchanged
ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}


NAME_LIMIT = 63  # SageMaker model and endpoint config names: [a-zA-Z0-9](-*[a-zA-Z0-9])*, up to 63


def resource_name(*parts: str) -> str:
    """A SageMaker model / endpoint config name from its parts (endpoint, model name, versions...).

    Characters SageMaker refuses become `-`; when that changed anything, or the name is too long,
    it ends in 8 hex digits of the parts' digest, so two different models never share a name."""
    wanted = "-".join(parts)
    clean = re.sub(r"[^A-Za-z0-9]+", "-", wanted).strip("-")
    if clean == wanted and len(clean) <= NAME_LIMIT:
        return clean
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:8]
    return f"{clean[: NAME_LIMIT - len(digest) - 1].rstrip('-')}-{digest}"


def serving_key(model_name: str, version: str) -> str:
    """Where a version's artifact must be for the serving role (it may read models/ only)."""
    return f"models/{model_name}/{version}/model.tar.gz"


def final_status(outcome: str) -> str:
    return FINAL_STATUS.get(outcome, "deployed")


def approval_of(outcome: str) -> str | None:
    """The model package status an outcome calls for; None leaves it as it is."""
    return APPROVAL.get(outcome)


def rollout_plan(
    *,
    model_name: str,
    candidate: dict,
    champion: dict | None,
    endpoint: str,
    bucket: str,
    role_arn: str,
    params: dict,
    vpc_config: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """`mode` (deploy | ab), `champion_version`, `test_id`, and models/variants/config per step.
    `vpc_config` (Subnets, SecurityGroupIds): where every model runs."""
    if vpc_config is not None and not (vpc_config.get("Subnets") and vpc_config.get("SecurityGroupIds")):
        raise ValueError(f"vpc_config needs Subnets and SecurityGroupIds, got {vpc_config}")

    def model_of(facts: dict) -> dict[str, Any]:
        version, tags = str(facts["version"]), facts["tags"]
        artifact = tags.get("model_artifact")
        if not artifact:
            raise ValueError(f"{model_name} version {version} has no 'model_artifact' tag: it cannot be served")
        return {
            "name": resource_name(endpoint, model_name, f"v{version}"),
            "version": version,
            "image": params["serving_image"],
            # a hand drop serves its content-addressed repack (models/<name>/_sha256/...); trained ones are staged
            "model_data_url": tags.get("serving_artifact") or f"s3://{bucket}/{serving_key(model_name, version)}",
            "artifact": artifact,
            "role_arn": role_arn,
            "environment": ENVIRONMENT,
            "vpc_config": vpc_config,
        }

    def variant(name: str, model: dict, weight: float) -> dict[str, Any]:
        return {
            "VariantName": name,
            "ModelName": model["name"],
            "InitialInstanceCount": int(params["instance_count"]),
            "InstanceType": params["instance_type"],
            "InitialVariantWeight": float(weight),
        }

    def step(name: str, config: str, variants: list[dict], models: list[dict]) -> dict[str, Any]:
        return {f"{name}_config": config, f"{name}_variants": variants, f"{name}_models": models}

    new = model_of(candidate)
    alone = (resource_name(endpoint, model_name, f"v{new['version']}"), [variant(CHAMPION, new, 1.0)], [new])
    plan: dict[str, Any] = {"version": new["version"], **step("promote", *alone)}
    if champion is None and candidate["tags"].get("source") == "hand-drop":
        raise ValueError(
            f"{model_name} version {new['version']} is a hand drop and no champion serves: a drop is only ever "
            "A/B-tested against the champion (the first champion comes from the model_training DAG)"
        )
    if champion is None or str(champion["version"]) == new["version"]:
        return {
            **plan,
            "mode": "deploy",
            "champion_version": new["version"],
            "test_id": "",
            **step("deploy", *alone),
            **step("rollback", *alone),
        }
    old = model_of(champion)
    share = float(params["traffic_share"])
    return {
        **plan,
        "mode": "ab",
        "champion_version": old["version"],
        "test_id": f"{model_name}-v{old['version']}-vs-v{new['version']}",
        **step(
            "deploy",
            resource_name(endpoint, model_name, f"v{old['version']}", f"v{new['version']}", f"{round(share * 100)}pct"),
            [variant(CHAMPION, old, 1 - share), variant(CHALLENGER, new, share)],
            [old, new],
        ),
        **step(
            "rollback", resource_name(endpoint, model_name, f"v{old['version']}"), [variant(CHAMPION, old, 1.0)], [old]
        ),
    }


def sequential_settings(params: dict) -> dict[str, float | int]:
    """The sequential test's settings from the DAG's Params (durations in seconds), validated when
    the run is planned - not at the first look, with the challenger already taking traffic. The
    error names the Param."""
    from include.abtest.decision import Settings

    min_hours, max_hours = float(params["min_duration_hours"]), float(params["max_duration_hours"])
    if min_hours > max_hours:
        raise ValueError(f"Param min_duration_hours ({min_hours:g}) must not exceed max_duration_hours ({max_hours:g})")
    settings = {
        "alpha": float(params["alpha"]),
        "min_detectable_lift": float(params["min_detectable_lift"]),
        "traffic_share": float(params["traffic_share"]),
        "min_sessions": int(params["min_sessions"]),
        "min_duration_s": min_hours * 3600,
        "max_duration_s": max_hours * 3600,
    }
    try:
        Settings(**settings)
    except ValueError as error:
        raise ValueError(f"invalid A/B test Params: {error}") from error
    return settings


def autoscaling_settings(params: dict) -> dict[str, int | float]:
    """Each variant's Application Auto Scaling (target tracking on SageMakerVariantInvocationsPerInstance)
    from the DAG's Params, validated when the run is planned: from `instance_count` (the floor) up to
    `max_instance_count`, adding instances when invocations per instance and minute exceed
    `invocations_per_instance`. Scale-out reacts in a minute, scale-in waits five (AWS's advice:
    scale in slowly)."""
    low, high = int(params["instance_count"]), int(params["max_instance_count"])
    target = float(params["invocations_per_instance"])
    if low < 1:
        raise ValueError(f"Param instance_count ({low}) must be at least 1")
    if high < low:
        raise ValueError(f"Param max_instance_count ({high}) must not be below instance_count ({low})")
    if not target > 0:
        raise ValueError(f"Param invocations_per_instance ({target:g}) must be positive")
    return {
        "min_capacity": low,
        "max_capacity": high,
        "target_invocations": target,
        "scale_out_cooldown_s": 60,
        "scale_in_cooldown_s": 300,
    }
