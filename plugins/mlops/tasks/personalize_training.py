"""The personalize_training DAG's Python steps: plan, validate and stage, gate, publish, record.
The rules (recipes, names, the not-worse gate) are in include/personalize."""

from __future__ import annotations

import io
import time
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.processed_months import ProcessedMonthsHook
from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.months import months_back
from mlops.tasks.common import read_object

METRIC_NAMESPACE = "MLOps/Personalize"


def plan(params: dict, month: str, run_id: str, *, aws_conn_id: str) -> dict[str, Any]:
    from include.personalize.plan import check_training_mode, resource_names
    from include.personalize.schema import interactions_schema_json
    from mlops.deployment import current

    recipe, mode = params["recipe"], params["training_mode"]
    check_training_mode(recipe, mode)
    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    prep = outputs.get_outputs("preprocessing", required=("OutputBucket",))
    personalize = outputs.get_outputs("personalize", required=("DataBucketName", "PersonalizeRoleArn"))
    processed = ProcessedMonthsHook(prep["OutputBucket"], aws_conn_id=aws_conn_id)
    window = [
        {"month": found["month"], "csv": found["files"]["personalize_interactions.csv"]}
        for found in processed.window(months_back(month, params["training_window_months"], inclusive=True))
    ]
    if not window or window[-1]["month"] != month:
        raise ValueError(f"month {month} is not processed: s3://{prep['OutputBucket']}/processed/month={month}/")
    return {
        "month": month,
        "window": window,
        "recipe": recipe,
        "training_mode": mode,
        "data_bucket": personalize["DataBucketName"],
        "role_arn": personalize["PersonalizeRoleArn"],
        "schema_json": interactions_schema_json(),
        **resource_names(recipe, mode, month, run_id, prefix=current().personalize_prefix),
    }


def validate_and_stage(plan: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """The window's interactions checked (clear errors before any spend), then one CSV to import."""
    import pandas as pd

    from include.personalize.validation import validate

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    frame = pd.concat(
        [
            pd.read_csv(io.BytesIO(read_object(s3, part["csv"])), dtype={"USER_ID": str, "ITEM_ID": str})
            for part in plan["window"]
        ],
        ignore_index=True,
    )
    months = ", ".join(p["month"] for p in plan["window"])
    summary = validate(frame, f"interactions of {months}", int(time.time()))
    s3.load_bytes(frame.to_csv(index=False).encode(), plan["data_key"], plan["data_bucket"], replace=True)
    uri = f"s3://{plan['data_bucket']}/{plan['data_key']}"
    print(
        f"{summary.interactions:,} interactions of {months} ({summary.users:,} users, {summary.items:,} items) -> {uri}"
    )
    return {"uri": uri, **summary.__dict__}


def gate(plan: dict, new_version_arn: str, new_metrics: dict, params: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """Serve the new version only if it is not worse than the one serving, on the gate metric."""
    from include.personalize.gate import not_worse
    from mlops.hooks.personalize import PersonalizeHook

    hook = PersonalizeHook(aws_conn_id=aws_conn_id)
    campaign = hook.find("campaign", plan["campaign"])
    serving = campaign["solutionVersionArn"] if campaign is not None else None
    compare = serving is not None and serving != new_version_arn
    return not_worse(
        new_version_arn,
        new_metrics,
        serving,
        hook.metrics(serving) if compare else None,
        metric=params["gate_metric"],
        tolerance=float(params["max_regression"]),
    )


def publish_parameter(name: str, value: str, description: str, *, aws_conn_id: str) -> None:
    from mlops.hooks.ssm_parameters import SsmParameterHook

    SsmParameterHook(aws_conn_id=aws_conn_id).put_string(name, value, description)


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
    experiment: str,
) -> dict[str, Any]:
    """Metrics to MLflow (one run per DAG run) and CloudWatch (per recipe), with the decision."""
    from mlops.hooks.cloudwatch_metrics import CloudWatchMetricsHook
    from mlops.hooks.mlflow_tracking import MlflowHook

    mlflow = MlflowHook(mlflow_conn_id)
    run, _ = mlflow.start_or_resume_run(
        mlflow.experiment_id(experiment),
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
    CloudWatchMetricsHook(aws_conn_id=aws_conn_id).put(METRIC_NAMESPACE, metrics, {"Recipe": plan["recipe"]})
    print(f"{plan['recipe']} {plan['version_name']}: {metrics}; {decision['reason']}")
    return {"mlflow_run_id": run.info.run_id, **decision, "metrics": metrics}
