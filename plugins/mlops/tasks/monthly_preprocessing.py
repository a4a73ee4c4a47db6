"""The monthly_preprocessing DAG's Python steps: plan the run, choose whether to fit, check the
candidate's quality, promote it. The quality rules are in include/preprocessing/quality.py; the
candidate/promotion protocol in include/preprocessing/outputs.py."""

from __future__ import annotations

import re
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.months import month_end

STACK_REQUIRED = (
    "InputBucket",
    "OutputBucket",
    "ArtifactBucket",
    "ClusterName",
    "PreprocessingTaskDefinition",
    "PreprocessingImage",
    "LogGroupName",
    "SubnetIds",
)


def plan(month: str, params: dict, run_id: str, *, container: str, aws_conn_id: str) -> dict[str, Any]:
    """Everything the run needs, resolved once: where its input is, how to run the job."""
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    from mlops.deployment import current
    from mlops.operators.ecs import private_network
    from mlops.tasks.common import require_image

    settings = current().preprocessing_prefix  # the job's settings, owned by the preprocessing stack
    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    stack = outputs.get_outputs("preprocessing", required=STACK_REQUIRED)
    require_image(stack["PreprocessingImage"], aws_conn_id)  # the image the task definition runs
    platform = outputs.get_outputs("platform")
    ssm = SsmHook(aws_conn_id=aws_conn_id)
    input_key = ssm.get_parameter_value(f"{settings}/input-key").rstrip("/")
    model_key = ssm.get_parameter_value(f"{settings}/model-key")
    job_run_id = re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)[:100]
    environment = [{"name": "MONTH", "value": month}, {"name": "RUN_ID", "value": job_run_id}]
    fit_command = ["fit", "--until", month, "--window", str(params["fit_window_months"])]
    return {
        "month": month,
        "event_time": month_end(month),
        "raw_manifest_uri": f"s3://{stack['InputBucket']}/{input_key}/month={month}/_manifest.json",
        "model_uri": f"s3://{stack['ArtifactBucket']}/{model_key}",
        "output_bucket": stack["OutputBucket"],
        "manifest_uri": f"s3://{stack['OutputBucket']}/processed/month={month}/_manifest.json",
        "candidate_uri": f"s3://{stack['OutputBucket']}/processed/month={month}/_candidate.json",
        "job_run_id": job_run_id,
        "cluster": stack["ClusterName"],
        "task_definition": stack["PreprocessingTaskDefinition"],
        "image": stack["PreprocessingImage"],
        "log_group": stack["LogGroupName"],
        "network_configuration": private_network(stack),
        "run_overrides": {"containerOverrides": [{"name": container, "command": ["run"], "environment": environment}]},
        "fit_overrides": {
            "containerOverrides": [{"name": container, "command": fit_command, "environment": environment}]
        },
        "user_feature_group": platform.get("UserFeatureGroupName", ""),
        "item_feature_group": platform.get("ItemFeatureGroupName", ""),
    }


def choose_model(plan: dict, refit: bool, *, aws_conn_id: str) -> list[str]:
    """`preprocess` always runs; it also waits for `fit_model` when that is chosen (a branch skips
    the direct downstream tasks it does not name)."""
    bucket, key = S3Hook.parse_s3_url(plan["model_uri"])
    if refit:
        print("refit_model is set: fitting the preprocessing model first")
        return ["fit_model", "preprocess"]
    if not S3Hook(aws_conn_id=aws_conn_id).check_for_key(key, bucket):
        print(f"no preprocessing model at {plan['model_uri']}: fitting one first")
        return ["fit_model", "preprocess"]
    print(f"using the preprocessing model at {plan['model_uri']}")
    return ["preprocess"]


def check_quality(plan: dict, params: dict, *, aws_conn_id: str) -> dict:
    """The candidate's report against the thresholds: a month that is mostly rejected is a data
    problem. Reads the candidate this run's job wrote; nothing is visible to readers yet."""
    from include.preprocessing import quality
    from mlops.hooks.processed_months import ProcessedMonthsHook

    months = ProcessedMonthsHook(plan["output_bucket"], aws_conn_id=aws_conn_id)
    candidate = months.candidate(plan["month"])
    if candidate is None or candidate.get("run_id") != plan["job_run_id"]:
        found = "none" if candidate is None else f"one of run {candidate.get('run_id')!r}"
        raise ValueError(f"no candidate of run {plan['job_run_id']!r} at {plan['candidate_uri']} ({found})")
    if candidate["month"] != plan["month"]:
        raise ValueError(f"{plan['candidate_uri']} describes {candidate['month']}, not {plan['month']}")
    report = candidate["report"]
    problems = quality.problems(
        report,
        max_quarantine_share=params["max_quarantine_share"],
        max_malformed_share=params["max_malformed_share"],
        min_rows_out=params["min_rows_out"],
    )
    print(quality.summary(plan["month"], report))
    if problems:
        live = months.manifest(plan["month"])
        stays = (
            f"not published: run {live['run_id']} stays live at {plan['manifest_uri']}"
            if live
            else f"not published: the month has no earlier run, {plan['manifest_uri']} stays absent"
        )
        raise ValueError(
            f"quality gate failed for {plan['month']}: "
            + "; ".join(problems)
            + f" - see {candidate['files']['quarantine.parquet']}; {stays}"
        )
    return {"month": plan["month"], "candidate_uri": plan["candidate_uri"], "attempt": candidate["attempt"]}


def promote(plan: dict, *, aws_conn_id: str) -> dict:
    """The gate passed: swap the month's live manifest to the candidate (one PutObject), then
    delete the runs it supersedes. What the DAG publishes downstream is what readers now see."""
    from mlops.hooks.processed_months import ProcessedMonthsHook

    live, replaced = ProcessedMonthsHook(plan["output_bucket"], aws_conn_id=aws_conn_id).promote(
        plan["month"], plan["job_run_id"]
    )
    deleted = f"; deleted runs {replaced}" if replaced else ""
    print(f"promoted {live['run_prefix']} to {plan['manifest_uri']}{deleted}")
    return {
        "month": plan["month"],
        "manifest_uri": plan["manifest_uri"],
        "files": live["files"],
        "report": live["report"],
        "run_id": live["run_id"],
        "replaced_runs": replaced,
    }


def processed_event(quality: dict) -> dict:
    """The `online_retail_processed_month` Asset event's extra."""
    report = quality["report"]
    return {
        "month": quality["month"],
        "manifest_uri": quality["manifest_uri"],
        "files": quality["files"],
        "rows_out": report["rows_out"],
        "rows_quarantined": report["rows_quarantined"],
        "users": report["users"],
        "items": report["items"],
        "model_id": report["model_id"],
    }
