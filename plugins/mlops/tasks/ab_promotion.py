"""The ab_promotion DAG's Python steps: plan the rollout, stage artifacts, start and conclude a test.
The rollout itself (variants, configs, steps) is data built by include/abtest/rollout.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.ab_tests import AbTestLedgerHook
from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.hooks.sagemaker_model_package import SageMakerModelPackageHook
from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.settings import CHALLENGER, CHAMPION, MARKER, MODEL_NAME
from mlops.tasks.common import framework_image

SERVING_REQUIRED = (
    "EndpointName",
    "ModelExecutionRoleArn",
    "AbTestTableName",
    "ChallengerGuardrailAlarms",
    "ConversionNamespace",
)


def candidate_of(triggering_asset_events, asset) -> dict | None:
    events = (triggering_asset_events or {}).get(asset) or []
    return dict(events[-1].extra) if events else None


def plan(params: dict, candidate: dict | None, *, aws_conn_id: str, mlflow_conn_id: str) -> dict[str, Any]:
    """The candidate (Param, Asset event, else the pending challenger or the champion) and the
    champion from MLflow, the serving stack's outputs, and the rollout built from them."""
    from include.abtest.rollout import autoscaling_settings, rollout_plan, sequential_settings

    candidate = candidate or {}
    model_name = params["model_name"] or candidate.get("model_name") or MODEL_NAME
    mlflow = MlflowHook(mlflow_conn_id)
    version = str(params["version"] or candidate.get("version") or "")
    if not version:  # a manual run: test the pending challenger, else make sure the champion serves
        pending = mlflow.version_by_alias(model_name, CHALLENGER) or mlflow.version_by_alias(model_name, CHAMPION)
        if pending is None:
            raise ValueError(f"nothing to deploy: no version given and {model_name} has no challenger or champion")
        version = pending.version
    new = mlflow.get_version(model_name, version)
    champion = mlflow.version_by_alias(model_name, CHAMPION)

    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    serving = outputs.get_outputs("serving", required=SERVING_REQUIRED)
    platform = outputs.get_outputs("platform", required=("BucketName", "PrivateSubnetIds", "ModelSecurityGroupId"))
    bucket = platform["BucketName"]
    rollout = rollout_plan(
        model_name=model_name,
        candidate={"version": str(new.version), "tags": dict(new.tags)},
        champion=None if champion is None else {"version": str(champion.version), "tags": dict(champion.tags)},
        endpoint=serving["EndpointName"],
        bucket=bucket,
        role_arn=serving["ModelExecutionRoleArn"],
        vpc_config={  # the models run in the VPC's private subnets
            "Subnets": [x for x in platform["PrivateSubnetIds"].split(",") if x],
            "SecurityGroupIds": [platform["ModelSecurityGroupId"]],
        },
        params={**params, "serving_image": params.get("serving_image") or framework_image(aws_conn_id)},
    )
    result = {
        "model_name": model_name,
        "endpoint": serving["EndpointName"],
        "bucket": bucket,
        "table": serving["AbTestTableName"],
        "alarms": list(params.get("guardrail_alarms") or [])
        or [a for a in serving["ChallengerGuardrailAlarms"].split(",") if a],
        "namespace": serving["ConversionNamespace"],
        "package_arn": new.tags.get("model_package_arn", ""),
        "check_interval_s": float(params["check_interval_minutes"]) * 60,
        "settings": sequential_settings(params),
        "autoscaling": autoscaling_settings(params),
        **rollout,
    }
    print(f"{result['model_name']} v{result['version']}: {result['mode']} on {result['endpoint']}")
    return result


def stage_artifacts(plan: dict, *, aws_conn_id: str) -> list[str]:
    """Copy each served version's artifact under models/<name>/<version>/ (once: a rerun finds it),
    with the `_registration.json` marker that tells the drop scanner this is no new hand drop."""
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    staged = []
    for model in plan["deploy_models"]:
        bucket, key = S3Hook.parse_s3_url(model["model_data_url"])
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
            source_bucket, source_key = S3Hook.parse_s3_url(model["artifact"])
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
    from include.abtest.rollout import FINAL_STATUS, approval_of, final_status

    mlflow = MlflowHook(mlflow_conn_id)
    name, version = plan["model_name"], plan["version"]
    outcome = (figures or {}).get("outcome", "deploy")
    reason = (figures or {}).get("reason", "first deployment of the champion")
    if outcome in ("deploy", "promote"):
        previous = mlflow.set_alias(name, CHAMPION, version)
        if previous != version:
            print(f"{name}@champion: {previous} -> {version}")
    challenger = mlflow.version_by_alias(name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        mlflow.delete_alias(name, CHALLENGER)  # a newer challenger keeps its alias
    tags = {"ab_outcome": final_status(outcome), "ab_reason": reason[:5000]}
    if plan.get("test_id"):
        tags["ab_test_id"] = plan["test_id"]
        for key in ("lift", "p_value", "ci_low", "ci_high"):
            if key in (figures or {}):
                tags[f"ab_{key}"] = f"{figures[key]:.6g}"
    mlflow.tag_version(name, version, tags)
    approval = approval_of(outcome)
    if approval and plan.get("package_arn"):
        SageMakerModelPackageHook(aws_conn_id=aws_conn_id).set_approval(plan["package_arn"], approval, reason)
    if plan.get("test_id"):
        ledger = AbTestLedgerHook(aws_conn_id=aws_conn_id, table_name=plan["table"])
        ledger.update(
            plan["endpoint"],
            plan["test_id"],
            FINAL_STATUS[outcome],
            {"figures": figures, "concluded_at": datetime.now(UTC).isoformat()},
        )
        # after the outcome is recorded: a failing chart fails the task (retried), never the outcome
        chart_uri = chart_looks(plan, ledger, aws_conn_id=aws_conn_id)
        if chart_uri:
            mlflow.tag_version(name, version, {"ab_chart": chart_uri})
            ledger.update(plan["endpoint"], plan["test_id"], FINAL_STATUS[outcome], {"chart": chart_uri})
    summary = {"outcome": final_status(outcome), "reason": reason, "version": version, **(figures or {})}
    print(f"{name} v{version}: {summary['outcome']} - {reason}")
    return summary


def chart_key(endpoint: str, test_id: str) -> str:
    return f"ab-tests/{endpoint}/{test_id}/looks.png"


def chart_looks(plan: dict, ledger: AbTestLedgerHook, *, aws_conn_id: str) -> str | None:
    """The chart of the test's looks (include/abtest/chart.py) beside its record: a PNG in the platform
    bucket under ab-tests/<endpoint>/<test id>/; its URI, or None for a test without looks."""
    from include.abtest.chart import render

    stored = ledger.get(plan["endpoint"], plan["test_id"]) or {}
    history = (stored.get("record") or {}).get("history") or []
    if not history:
        print(f"A/B test {plan['test_id']}: no looks recorded, no chart")
        return None
    title = f"{plan['test_id']} on {plan['endpoint']}: {len(history)} looks"
    png = render(history, title=title, alpha=float(plan["settings"]["alpha"]))
    key = chart_key(plan["endpoint"], plan["test_id"])
    S3Hook(aws_conn_id=aws_conn_id).load_bytes(png, key, plan["bucket"], replace=True)
    uri = f"s3://{plan['bucket']}/{key}"
    print(f"A/B test {plan['test_id']}: chart of {len(history)} looks at {uri}")
    return uri


def restore_champion(plan: dict, promoted: bool, *, aws_conn_id: str, wait_s: float = 15) -> dict:
    """The run's teardown: unless it ended in promotion, the champion serves all traffic again.

    Runs whatever failed before (CloudWatch errors, broken conversion metrics, a failed promotion
    half-way): a challenger variant still on the endpoint gets weight 0 (UpdateEndpointWeightsAnd
    Capacities, immediate), then the endpoint goes to the champion-alone config as a rollback
    would. A test still `running` in the ledger is marked `aborted` (a rerun of the same pair
    resumes it; its sample-ratio check voids it if the gap without challenger traffic matters).
    Nothing to do after a promotion, a first deployment or a completed rollback."""
    from mlops.hooks.sagemaker_endpoint import SageMakerEndpointHook

    if plan.get("mode") != "ab" or promoted:
        print("nothing to restore: " + ("the challenger was promoted" if promoted else "no A/B test"))
        return {"restored": False}
    hook = SageMakerEndpointHook(aws_conn_id=aws_conn_id)
    endpoint = plan["endpoint"]

    def in_service() -> dict:
        hook.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": wait_s, "MaxAttempts": int(7200 // wait_s)}
        )
        return hook.find_endpoint(endpoint) or {}

    current = in_service()
    restored = False
    if CHALLENGER in SageMakerEndpointHook.weights_of(current):
        if hook.set_weights(endpoint, {CHAMPION: 1.0, CHALLENGER: 0.0}):
            print(f"{endpoint}: all traffic back to the champion (was {SageMakerEndpointHook.weights_of(current)})")
            in_service()
        from mlops.hooks.endpoint_autoscaling import EndpointAutoScalingHook

        scaling = EndpointAutoScalingHook(aws_conn_id=aws_conn_id)
        kept = [v["VariantName"] for v in plan["rollback_variants"]]
        released = scaling.release_all_but(endpoint, kept)  # SageMaker refuses to remove a scaled variant
        for model in plan["rollback_models"]:
            hook.ensure_model(
                model["name"],
                model["image"],
                model["model_data_url"],
                model["role_arn"],
                model.get("environment", {}),
                vpc_config=model.get("vpc_config"),
            )
        hook.ensure_endpoint_config(plan["rollback_config"], plan["rollback_variants"])
        if hook.deploy(endpoint, plan["rollback_config"]) != "unchanged":
            current = in_service()
            if current.get("EndpointConfigName") != plan["rollback_config"]:
                raise RuntimeError(f"{endpoint} did not move to {plan['rollback_config']}: {current}")
        if plan.get("autoscaling"):
            for variant in kept:
                scaling.register(endpoint, variant, plan["autoscaling"])
        print(f"{endpoint}: auto scaling released for {released or 'no variant'}, kept for {kept}")
        restored = True
    ledger = AbTestLedgerHook(aws_conn_id=aws_conn_id, table_name=plan["table"])
    stored = ledger.get(endpoint, plan["test_id"])
    if stored is not None and stored["status"] == "running":
        reason = "the run failed before a decision: the champion serves alone again"
        ledger.update(
            endpoint, plan["test_id"], "aborted", {"aborted_at": datetime.now(UTC).isoformat(), "aborted": reason}
        )
        print(f"A/B test {plan['test_id']}: aborted - {reason}")
    return {"restored": restored, "weights": SageMakerEndpointHook.weights_of(hook.find_endpoint(endpoint) or {})}


def clean_up_superseded(plan: dict, *, aws_conn_id: str) -> dict[str, list[str]]:
    """After a promotion, a rollback or a first deployment: delete the endpoint's configs and models
    (named `<endpoint>-...`, one per version and split) that the live endpoint does not reference.
    Nothing is deleted while the endpoint is not InService: an update may still roll back to them."""
    from mlops.hooks.sagemaker_endpoint import SageMakerEndpointHook

    hook = SageMakerEndpointHook(aws_conn_id=aws_conn_id)
    superseded = hook.superseded(plan["endpoint"])
    if superseded is None:
        print(f"{plan['endpoint']} is not InService: superseded configs and models are left for the next run")
        return {"endpoint_configs": [], "models": []}
    deleted = hook.delete_configs_and_models(superseded["endpoint_configs"], superseded["models"])
    print(
        f"{plan['endpoint']}: deleted {len(deleted['endpoint_configs'])} superseded endpoint config(s) "
        f"{deleted['endpoint_configs']} and {len(deleted['models'])} model(s) {deleted['models']}"
    )
    return deleted
