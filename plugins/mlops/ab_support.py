"""What the ab_promotion DAG's Python tasks do: plan the rollout, stage artifacts, conclude a test.

Kept out of the DAG file so that parsing it imports nothing heavy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.hooks.ab_tests import AbTestLedgerHook
from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.hooks.sagemaker_endpoint import SageMakerEndpointHook
from mlops.hooks.stack_outputs import StackOutputsHook

CHAMPION, CHALLENGER = "champion", "challenger"
SERVING_REQUIRED = (
    "EndpointName",
    "ModelExecutionRoleArn",
    "AbTestTableName",
    "ChallengerGuardrailAlarms",
    "ConversionNamespace",
)
MARKER = "_registration.json"  # beside a served or hand-dropped model.tar.gz: which MLflow version it is
FINAL_STATUS = {"promote": "promoted", "rollback": "rolled_back", "inconclusive": "inconclusive"}


def serving_key(model_name: str, version: str) -> str:
    """Where a version's artifact must be for the serving role (it may read models/ only)."""
    return f"models/{model_name}/{version}/model.tar.gz"


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def plan_promotion(params: dict, candidate: dict | None, *, aws_conn_id: str, mlflow_conn_id: str) -> dict[str, Any]:
    candidate = candidate or {}
    model_name = params["model_name"] or candidate.get("model_name") or "recommender"
    mlflow = MlflowHook(mlflow_conn_id)
    version = str(params["version"] or candidate.get("version") or "")
    if not version:  # a manual run: test the pending challenger, else make sure the champion serves
        pending = mlflow.version_by_alias(model_name, CHALLENGER) or mlflow.version_by_alias(model_name, CHAMPION)
        if pending is None:
            raise ValueError(f"nothing to deploy: no version given and {model_name} has no challenger or champion")
        version = pending.version
    candidate_version = mlflow.client.get_model_version(model_name, version)
    champion = mlflow.version_by_alias(model_name, CHAMPION)

    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    serving = outputs.get_outputs("serving", required=SERVING_REQUIRED)
    bucket = outputs.get_outputs("platform", required=("BucketName",))["BucketName"]
    endpoint = serving["EndpointName"]
    environment = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    }

    def model_of(mv) -> dict[str, Any]:
        artifact = mv.tags.get("model_artifact")
        if not artifact:
            raise ValueError(f"{model_name} version {mv.version} has no 'model_artifact' tag: it cannot be served")
        return {
            "name": f"{endpoint}-v{mv.version}",
            "version": str(mv.version),
            "image": params["serving_image"],
            # a hand-dropped version serves from where it was dropped; trained ones are staged under models/
            "model_data_url": mv.tags.get("serving_artifact")
            or f"s3://{bucket}/{serving_key(model_name, str(mv.version))}",
            "artifact": artifact,
            "role_arn": serving["ModelExecutionRoleArn"],
            "environment": environment,
        }

    def variant(name: str, model: dict, weight: float) -> dict[str, Any]:
        return {
            "VariantName": name,
            "ModelName": model["name"],
            "InitialInstanceCount": int(params["instance_count"]),
            "InstanceType": params["instance_type"],
            "InitialVariantWeight": float(weight),
        }

    def rollout(step: str, config: str, variants: list[dict], models: list[dict]) -> dict[str, Any]:
        return {f"{step}_config": config, f"{step}_variants": variants, f"{step}_models": models}

    new = model_of(candidate_version)
    alone = (f"{endpoint}-v{new['version']}", [variant(CHAMPION, new, 1.0)], [new])
    plan: dict[str, Any] = {
        "model_name": model_name,
        "version": new["version"],
        "endpoint": endpoint,
        "bucket": bucket,
        "table": serving["AbTestTableName"],
        "alarms": list(params.get("guardrail_alarms") or [])
        or [a for a in serving["ChallengerGuardrailAlarms"].split(",") if a],
        "namespace": serving["ConversionNamespace"],
        "package_arn": candidate_version.tags.get("model_package_arn", ""),
        "check_interval_s": float(params["check_interval_minutes"]) * 60,
        "settings": {
            "alpha": float(params["alpha"]),
            "min_detectable_effect": float(params["min_detectable_effect"]),
            "min_sessions": int(params["min_sessions"]),
            "min_duration_s": float(params["min_duration_hours"]) * 3600,
            "max_duration_s": float(params["max_duration_hours"]) * 3600,
        },
        **rollout("promote", *alone),
    }
    if champion is None or str(champion.version) == new["version"]:
        plan.update(
            mode="deploy",
            champion_version=new["version"],
            test_id="",
            **rollout("deploy", *alone),
            **rollout("rollback", *alone),
        )
        return plan
    old = model_of(champion)
    share = float(params["traffic_share"])
    plan.update(
        mode="ab",
        champion_version=old["version"],
        test_id=f"{model_name}-v{old['version']}-vs-v{new['version']}",
        **rollout(
            "deploy",
            f"{endpoint}-v{old['version']}-v{new['version']}-{round(share * 100)}pct",
            [variant(CHAMPION, old, 1 - share), variant(CHALLENGER, new, share)],
            [old, new],
        ),
        **rollout("rollback", f"{endpoint}-v{old['version']}", [variant(CHAMPION, old, 1.0)], [old]),
    )
    return plan


def stage_artifacts(plan: dict, *, aws_conn_id: str) -> list[str]:
    """Copy each served version's artifact under models/<name>/<version>/ (once: a rerun finds it),
    with the `_registration.json` marker that tells the drop scanner this is no new hand drop."""
    import json

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    staged = []
    for model in plan["deploy_models"]:
        bucket, key = _split(model["model_data_url"])
        marker_key = key.rsplit("/", 1)[0] + "/" + MARKER
        if model["model_data_url"] != model["artifact"]:
            marker = json.loads(s3.read_key(marker_key, bucket)) if s3.check_for_key(marker_key, bucket) else None
            if marker is not None and str(marker.get("mlflow_version")) != model["version"]:
                raise ValueError(
                    f"s3://{bucket}/{key} belongs to version {marker.get('mlflow_version')} ({marker}), not "
                    f"{model['version']}: a hand drop used this version's folder; move it to a free label"
                )
            if marker is None:
                s3.load_string(
                    json.dumps(
                        {"status": "registered", "mlflow_version": model["version"], "source": model["artifact"]}
                    ),
                    marker_key,
                    bucket,
                    replace=True,
                )
        if not s3.check_for_key(key, bucket):
            source_bucket, source_key = _split(model["artifact"])
            if not s3.check_for_key(source_key, source_bucket):
                raise FileNotFoundError(f"version {model['version']}'s artifact {model['artifact']} does not exist")
            s3.copy_object(source_key, key, source_bucket_name=source_bucket, dest_bucket_name=bucket)
            print(f"staged {model['artifact']} -> {model['model_data_url']}")
        staged.append(model["model_data_url"])
    return staged


def start_test(plan: dict, run_id: str, *, aws_conn_id: str) -> dict:
    ledger = AbTestLedgerHook(aws_conn_id=aws_conn_id, table_name=plan["table"])
    record = ledger.start(
        plan["endpoint"],
        plan["test_id"],
        {
            "started_at": datetime.now(UTC).isoformat(),
            "model_name": plan["model_name"],
            "champion_version": plan["champion_version"],
            "challenger_version": plan["version"],
            "config": plan["deploy_config"],
            "settings": plan["settings"],
            "dag_run_id": run_id,
        },
    )
    print(f"A/B test {plan['test_id']} on {plan['endpoint']} running since {record['started_at']}")
    return record


def conclude(plan: dict, figures: dict | None, *, aws_conn_id: str, mlflow_conn_id: str) -> dict:
    """Move the registry to the outcome: aliases, version tags, model package status, ledger."""
    mlflow = MlflowHook(mlflow_conn_id)
    name, version = plan["model_name"], plan["version"]
    outcome = (figures or {}).get("outcome", "deploy")
    reason = (figures or {}).get("reason", "first deployment of the champion")
    if outcome in ("deploy", "promote"):
        current = mlflow.version_by_alias(name, CHAMPION)
        if current is None or str(current.version) != version:
            mlflow.set_alias(name, CHAMPION, version)
            print(f"{name}@champion: {current.version if current else None} -> {version}")
        approval = "Approved"
    else:
        approval = "Rejected" if outcome == "rollback" else None
    challenger = mlflow.version_by_alias(name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        mlflow.client.delete_registered_model_alias(name, CHALLENGER)  # a newer challenger keeps its alias
    tags = {"ab_outcome": FINAL_STATUS.get(outcome, "deployed"), "ab_reason": reason[:5000]}
    if plan.get("test_id"):
        tags["ab_test_id"] = plan["test_id"]
        for key in ("lift", "p_value", "ci_low", "ci_high"):
            if key in (figures or {}):
                tags[f"ab_{key}"] = f"{figures[key]:.6g}"
    mlflow.tag_version(name, version, tags)
    if approval and plan.get("package_arn"):
        sagemaker = SageMakerEndpointHook(aws_conn_id=aws_conn_id).conn
        status = sagemaker.describe_model_package(ModelPackageName=plan["package_arn"])["ModelApprovalStatus"]
        if status != approval:
            sagemaker.update_model_package(
                ModelPackageArn=plan["package_arn"], ModelApprovalStatus=approval, ApprovalDescription=reason[:1000]
            )
            print(f"model package {plan['package_arn']}: {status} -> {approval}")
    if plan.get("test_id"):
        AbTestLedgerHook(aws_conn_id=aws_conn_id, table_name=plan["table"]).update(
            plan["endpoint"],
            plan["test_id"],
            FINAL_STATUS[outcome],
            {"figures": figures, "concluded_at": datetime.now(UTC).isoformat()},
        )
    summary = {
        "outcome": FINAL_STATUS.get(outcome, "deployed"),
        "reason": reason,
        "version": version,
        **(figures or {}),
    }
    print(f"{name} v{version}: {summary['outcome']} - {reason}")
    return summary
