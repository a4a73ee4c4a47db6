"""What personalize_training's Python tasks do: plan, validate and stage, gate, publish, record.

Kept out of the DAG file so that parsing it imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.stack_outputs import StackOutputsHook

RECIPE_ARN = "arn:aws:personalize:::recipe/{}"
UPDATE_MODE_RECIPES = ("aws-user-personalization", "aws-popularity-count")
CAMPAIGN_PARAMETER = "/mlops/personalize/campaign-arn"
TRACKING_PARAMETER = "/mlops/personalize/tracking-id"
METRIC_NAMESPACE = "MLOps/Personalize"


def plan(params: dict, month: str, run_id: str, *, aws_conn_id: str) -> dict[str, Any]:
    import pendulum

    from include.personalize.schema import interactions_schema_json

    recipe, mode = params["recipe"], params["training_mode"]
    if mode == "UPDATE" and recipe not in UPDATE_MODE_RECIPES:
        raise ValueError(
            f"training_mode UPDATE is only possible with {', '.join(UPDATE_MODE_RECIPES)}; {recipe} retrains in FULL"
        )
    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    prep = outputs.get_outputs("preprocessing", required=("OutputBucket",))
    personalize = outputs.get_outputs("personalize", required=("DataBucketName", "PersonalizeRoleArn"))
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    start = pendulum.parse(f"{month}-01")
    window = []
    for back in range(params["training_window_months"] - 1, -1, -1):
        m = start.subtract(months=back).format("YYYY-MM")
        key = f"processed/month={m}/_manifest.json"
        if s3.check_for_key(key, prep["OutputBucket"]):
            files = json.loads(s3.read_key(key, prep["OutputBucket"]))["files"]
            window.append({"month": m, "csv": files["personalize_interactions.csv"]})
    if not window or window[-1]["month"] != month:
        raise ValueError(f"month {month} is not processed: s3://{prep['OutputBucket']}/processed/month={month}/")
    suffix = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    short = recipe.removeprefix("aws-")
    return {
        "month": month,
        "window": window,
        "recipe": recipe,
        "recipe_arn": RECIPE_ARN.format(recipe),
        "training_mode": mode,
        "data_bucket": personalize["DataBucketName"],
        "role_arn": personalize["PersonalizeRoleArn"],
        "dataset_group": "mlops-recommender",
        "schema": "mlops-recommender-interactions",
        "schema_json": interactions_schema_json(),
        "dataset": "mlops-recommender-interactions",
        "solution": f"mlops-recommender-{short}",
        "version_name": f"{month}-{mode.lower()}-{suffix}",
        "import_job": f"interactions-{month}-{suffix}",
        "campaign": f"mlops-recommender-{short}",
        "event_tracker": "mlops-recommender-events",
        "data_key": f"interactions/month={month}/run={suffix}/interactions.csv",
    }


def validate_and_stage(plan: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """The window's interactions checked (clear errors before any spend), then one CSV to import."""
    import pandas as pd

    from include.personalize.validation import validate

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    frames = []
    for part in plan["window"]:
        bucket, _, key = part["csv"][5:].partition("/")
        frames.append(
            pd.read_csv(
                io.BytesIO(s3.get_key(key, bucket).get()["Body"].read()), dtype={"USER_ID": str, "ITEM_ID": str}
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    months = ", ".join(p["month"] for p in plan["window"])
    summary = validate(frame, f"interactions of {months}", int(time.time()))
    body = frame.to_csv(index=False).encode()
    s3.load_bytes(body, plan["data_key"], plan["data_bucket"], replace=True)
    uri = f"s3://{plan['data_bucket']}/{plan['data_key']}"
    print(
        f"{summary.interactions:,} interactions of {months} ({summary.users:,} users, {summary.items:,} items) -> {uri}"
    )
    return {"uri": uri, **summary.__dict__}


def gate(plan: dict, new_version_arn: str, new_metrics: dict, params: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """Serve the new version only if it is not worse than the one serving, on the gate metric."""
    from mlops.hooks.personalize import PersonalizeHook

    hook = PersonalizeHook(aws_conn_id=aws_conn_id)
    metric, tolerance = params["gate_metric"], float(params["max_regression"])
    campaign = hook.find("campaign", plan["campaign"])
    if campaign is None:
        return {"deploy": True, "reason": "no campaign yet: the first version serves", "serving": None}
    serving = campaign["solutionVersionArn"]
    if serving == new_version_arn:
        return {"deploy": True, "reason": "the campaign already serves this version", "serving": serving}
    old = hook.metrics(serving).get(metric)
    new = new_metrics.get(metric)
    if new is None:
        raise ValueError(f"the new version reports no {metric} (it has {sorted(new_metrics)})")
    if old is None or new >= old * (1 - tolerance):
        reason = f"{metric} {new:.4f} vs serving {old if old is None else round(old, 4)}: not worse"
        return {"deploy": True, "reason": reason, "serving": serving, "serving_metric": old}
    reason = (
        f"{metric} {new:.4f} is below the serving version's {old:.4f} by more than {tolerance:.0%}: "
        f"the campaign keeps {serving}"
    )
    return {"deploy": False, "reason": reason, "serving": serving, "serving_metric": old}


def publish_parameter(name: str, value: str, description: str, *, aws_conn_id: str) -> None:
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    SsmHook(aws_conn_id=aws_conn_id).conn.put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True, Description=description
    )


def record(
    plan: dict,
    version: dict,
    metrics: dict,
    decision: dict,
    staged: dict,
    run_id: str,
    *,
    aws_conn_id: str,
    mlflow_conn_id: str,
) -> dict[str, Any]:
    """Metrics to MLflow (one run per DAG run) and CloudWatch (per recipe), with the decision."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from mlops.hooks.mlflow_tracking import MlflowHook

    mlflow = MlflowHook(mlflow_conn_id)
    experiment = mlflow.experiment_id("personalize-training")
    run, _ = mlflow.start_or_resume_run(
        experiment,
        run_name=plan["version_name"],
        tags={"recipe": plan["recipe"], "month": plan["month"]},
        key={"dag_run_id": run_id},
    )
    mlflow.log_to_run(
        run.info.run_id,
        params={
            "recipe": plan["recipe"],
            "training_mode": plan["training_mode"],
            "months": ",".join(p["month"] for p in plan["window"]),
            "interactions": staged["interactions"],
        },
        metrics=metrics,
        tags={
            "solution_version_arn": version["solutionVersionArn"],
            "data": staged["uri"],
            "decision": decision["reason"],
            "deployed": str(decision["deploy"]).lower(),
        },
    )
    AwsBaseHook(aws_conn_id=aws_conn_id, client_type="cloudwatch").conn.put_metric_data(
        Namespace=METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Recipe", "Value": plan["recipe"]}],
                "Value": float(value),
                "Unit": "None",
            }
            for name, value in metrics.items()
        ],
    )
    print(f"{plan['recipe']} {plan['version_name']}: {metrics}; {decision['reason']}")
    return {"mlflow_run_id": run.info.run_id, **decision, "metrics": metrics}
