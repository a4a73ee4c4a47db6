"""Turn a landed month of raw purchases into the data sets every model learns from."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import PROCESSED_MONTH
from mlops.operators.ecs import EcsJobOperator, private_network
from mlops.operators.feature_store import FeatureStoreIngestOperator
from mlops.params import month_param
from mlops.sensors.s3_key import S3KeyCheckIntervalSensor

AWS_CONN_ID = "aws_default"
CONTAINER = "preprocess"  # container name in the preprocessing stack's task definition
SSM_PREFIX = "/ds/preprocessing"

DOC = """
### Monthly preprocessing
On the 15th at 09:00 UTC (or for any month given as a Param), a Fargate task turns the month that
`raw_data_landing` put in the raw zone into clean interactions, user and item features, the
Personalize interactions CSV, a quarantine of every excluded row with its reason, and a quality
report. The job reads its configuration from SSM (`/ds/preprocessing/*`); this DAG only says which month.

1. **plan** - month (Param, else the month before the run's date), stack outputs, SSM keys.
2. **wait_for_raw_month** - the landing manifest, deferred (no worker slot held).
3. **choose_model** - fit the preprocessing model first when there is none or `refit_model` is set.
4. **fit_model** / **preprocess** - the job on ECS Fargate (deferrable, reattaches after a restart;
   on failure the container's last log lines are in the task log).
5. **check_quality** - the report against the thresholds in Params; fails naming the figure.
6. **publish_user_features** / **publish_item_features** - `PutRecord` into the platform's feature groups.
7. **announce** - the `online_retail_processed_month` Asset with the manifest in its extra.

Outputs are published behind `s3://<OutputBucket>/processed/month=YYYY-MM/_manifest.json`: a rerun
replaces the month, a failed run leaves the previous one. Backfill a range of months with
`airflow backfill create --dag-id monthly_preprocessing --from-date 2011-02-15 --to-date 2011-11-15`
(each run's logical date on the 15th processes the month before; one run at a time).
"""


def _month_end(month: str) -> str:
    start = pendulum.parse(f"{month}-01", tz="UTC")
    return start.end_of("month").format("YYYY-MM-DD[T]HH:mm:ss[Z]")


@dag(
    dag_id="monthly_preprocessing",
    schedule="0 9 15 * *",
    # The data starts in December 2010: backfills reach back that far; catchup stays off so that
    # enabling the DAG does not start them by itself.
    start_date=pendulum.datetime(2011, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["preprocessing", "ecs", "data", "feature-store"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    params={
        "month": month_param("Month to preprocess; empty means the month before the run's date."),
        "raw_check_seconds": Param(
            600, type="integer", minimum=5, maximum=3600, title="Seconds between checks for the raw month (deferred)"
        ),
        "refit_model": Param(
            False, type="boolean", title="Refit the preprocessing model", description="Fit it even if one exists."
        ),
        "fit_window_months": Param(
            3,
            type="integer",
            minimum=1,
            maximum=24,
            title="Fit window (months)",
            description="Landed months, ending with this one, the model is fitted on.",
        ),
        "max_quarantine_share": Param(
            0.35,
            type="number",
            minimum=0,
            maximum=1,
            title="Maximum quarantined share",
            description="Fail when more rows than this are quarantined (about 0.19 in a normal month).",
        ),
        "max_malformed_share": Param(
            0.01,
            type="number",
            minimum=0,
            maximum=1,
            title="Maximum malformed share",
            description="Fail when more rows than this have a wrong field count or an unparsable number.",
        ),
        "min_rows_out": Param(
            1000,
            type="integer",
            minimum=0,
            title="Minimum clean rows",
            description="Fail when fewer interactions than this remain.",
        ),
    },
)
def monthly_preprocessing():
    @task(execution_timeout=timedelta(minutes=2))
    def plan(params=None, dag_run=None, run_id=None) -> dict:
        """Everything the run needs, resolved once: month, where its input is, how to run the job."""
        import re

        from airflow.providers.amazon.aws.hooks.ssm import SsmHook

        from mlops.hooks.stack_outputs import StackOutputsHook

        when = dag_run.logical_date or dag_run.run_after
        month = params["month"] or pendulum.instance(when).subtract(months=1).format("YYYY-MM")
        outputs = StackOutputsHook(aws_conn_id=AWS_CONN_ID)
        stack = outputs.get_outputs(
            "preprocessing",
            required=(
                "InputBucket",
                "OutputBucket",
                "ArtifactBucket",
                "ClusterName",
                "PreprocessingTaskDefinition",
                "LogGroupName",
                "SubnetIds",
            ),
        )
        platform = outputs.get_outputs("platform")
        ssm = SsmHook(aws_conn_id=AWS_CONN_ID)
        input_key = ssm.get_parameter_value(f"{SSM_PREFIX}/input-key").rstrip("/")
        model_key = ssm.get_parameter_value(f"{SSM_PREFIX}/model-key")
        job_run_id = re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)[:100]
        environment = [{"name": "MONTH", "value": month}, {"name": "RUN_ID", "value": job_run_id}]
        return {
            "month": month,
            "event_time": _month_end(month),
            "raw_manifest_uri": f"s3://{stack['InputBucket']}/{input_key}/month={month}/_manifest.json",
            "model_uri": f"s3://{stack['ArtifactBucket']}/{model_key}",
            "manifest_uri": f"s3://{stack['OutputBucket']}/processed/month={month}/_manifest.json",
            "cluster": stack["ClusterName"],
            "task_definition": stack["PreprocessingTaskDefinition"],
            "log_group": stack["LogGroupName"],
            "network_configuration": private_network(stack),
            "run_overrides": {
                "containerOverrides": [{"name": CONTAINER, "command": ["run"], "environment": environment}]
            },
            "fit_overrides": {
                "containerOverrides": [
                    {
                        "name": CONTAINER,
                        "command": ["fit", "--until", month, "--window", str(params["fit_window_months"])],
                        "environment": environment,
                    }
                ]
            },
            "user_feature_group": platform.get("UserFeatureGroupName", ""),
            "item_feature_group": platform.get("ItemFeatureGroupName", ""),
        }

    run_plan = plan()

    wait_for_raw_month = S3KeyCheckIntervalSensor(
        task_id="wait_for_raw_month",
        aws_conn_id=AWS_CONN_ID,
        bucket_key=run_plan["raw_manifest_uri"],
        deferrable=True,
        check_interval="{{ params.raw_check_seconds }}",
        timeout=timedelta(days=2).total_seconds(),
        retries=0,
    )

    @task.branch(execution_timeout=timedelta(minutes=2))
    def choose_model(plan: dict, params=None) -> list[str]:
        """`preprocess` always runs; it also waits for `fit_model` when that is chosen (a branch
        skips the direct downstream tasks it does not name)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, key = S3Hook.parse_s3_url(plan["model_uri"])
        if params["refit_model"]:
            print("refit_model is set: fitting the preprocessing model first")
            return ["fit_model", "preprocess"]
        if not S3Hook(aws_conn_id=AWS_CONN_ID).check_for_key(key, bucket):
            print(f"no preprocessing model at {plan['model_uri']}: fitting one first")
            return ["fit_model", "preprocess"]
        print(f"using the preprocessing model at {plan['model_uri']}")
        return ["preprocess"]

    job_settings = {
        "aws_conn_id": AWS_CONN_ID,
        "cluster": run_plan["cluster"],
        "task_definition": run_plan["task_definition"],
        "network_configuration": run_plan["network_configuration"],
        "awslogs_group": run_plan["log_group"],
        "awslogs_stream_prefix": CONTAINER,
        "container_name": CONTAINER,
        "waiter_delay": 5,
        "waiter_max_attempts": 720,
    }
    fit_model = EcsJobOperator(
        task_id="fit_model", overrides=run_plan["fit_overrides"], execution_timeout=timedelta(hours=1), **job_settings
    )
    preprocess = EcsJobOperator(
        task_id="preprocess",
        overrides=run_plan["run_overrides"],
        trigger_rule="none_failed_min_one_success",
        execution_timeout=timedelta(hours=1),
        **job_settings,
    )

    @task(retries=0, execution_timeout=timedelta(minutes=5))
    def check_quality(plan: dict, params=None) -> dict:
        """The job's report against the thresholds: a month that is mostly rejected is a data problem."""
        import json

        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, key = S3Hook.parse_s3_url(plan["manifest_uri"])
        manifest = json.loads(S3Hook(aws_conn_id=AWS_CONN_ID).read_key(key, bucket))
        report = manifest["report"]
        if manifest["month"] != plan["month"]:
            raise ValueError(f"{plan['manifest_uri']} describes {manifest['month']}, not {plan['month']}")
        rows_in = report["rows_in"] or 1
        reasons = report["quarantined_by_reason"]
        malformed = (reasons.get("wrong_field_count", 0) + reasons.get("invalid_number", 0)) / rows_in
        problems = []
        if report["quarantine_share"] > params["max_quarantine_share"]:
            problems.append(
                f"quarantined share {report['quarantine_share']:.3f} > {params['max_quarantine_share']} ({reasons})"
            )
        if malformed > params["max_malformed_share"]:
            problems.append(f"malformed share {malformed:.4f} > {params['max_malformed_share']}")
        if report["rows_out"] < params["min_rows_out"]:
            problems.append(f"{report['rows_out']} clean rows < {params['min_rows_out']}")
        print(
            f"{plan['month']}: {report['rows_in']:,} rows in, {report['rows_out']:,} out, "
            f"{report['rows_quarantined']:,} quarantined {reasons}; "
            f"{report['users']:,} users, {report['items']:,} items"
        )
        if problems:
            raise ValueError(
                f"quality gate failed for {plan['month']}: "
                + "; ".join(problems)
                + f" - see {manifest['files']['quarantine.parquet']}"
            )
        return {
            "month": plan["month"],
            "manifest_uri": plan["manifest_uri"],
            "files": manifest["files"],
            "report": report,
            "run_id": manifest["run_id"],
        }

    quality = check_quality(run_plan)

    publish_users = FeatureStoreIngestOperator(
        task_id="publish_user_features",
        aws_conn_id=AWS_CONN_ID,
        feature_group_name=run_plan["user_feature_group"],
        source_uri="{{ ti.xcom_pull(task_ids='check_quality')['files']['user_features.parquet'] }}",
        event_time=run_plan["event_time"],
        execution_timeout=timedelta(minutes=30),
    )
    publish_items = FeatureStoreIngestOperator(
        task_id="publish_item_features",
        aws_conn_id=AWS_CONN_ID,
        feature_group_name=run_plan["item_feature_group"],
        source_uri="{{ ti.xcom_pull(task_ids='check_quality')['files']['item_features.parquet'] }}",
        event_time=run_plan["event_time"],
        execution_timeout=timedelta(minutes=30),
    )

    @task(outlets=[PROCESSED_MONTH], trigger_rule="none_failed", execution_timeout=timedelta(minutes=2))
    def announce(quality: dict, outlet_events=None) -> dict:
        report = quality["report"]
        outlet_events[PROCESSED_MONTH].extra = {
            "month": quality["month"],
            "manifest_uri": quality["manifest_uri"],
            "files": quality["files"],
            "rows_out": report["rows_out"],
            "rows_quarantined": report["rows_quarantined"],
            "users": report["users"],
            "items": report["items"],
            "model_id": report["model_id"],
        }
        return outlet_events[PROCESSED_MONTH].extra

    choice = choose_model(run_plan)
    run_plan >> wait_for_raw_month >> choice >> [fit_model, preprocess]
    fit_model >> preprocess >> quality >> [publish_users, publish_items] >> announce(quality)


monthly_preprocessing()
