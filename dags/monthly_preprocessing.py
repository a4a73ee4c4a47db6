"""Turn a landed month of raw purchases into the data sets every model learns from."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import PROCESSED_MONTH
from mlops.operators.ecs import EcsJobOperator
from mlops.operators.feature_store import FeatureStoreIngestOperator
from mlops.params import month_param
from mlops.sensors.s3_key import S3KeyCheckIntervalSensor
from mlops.settings import AWS_CONN_ID

CONTAINER = "preprocess"  # container name in the preprocessing stack's task definition

DOC = """
### Monthly preprocessing
On the 15th at 09:00 UTC (or for any month given as a Param), a Fargate task turns the month that
`raw_data_landing` put in the raw zone into clean interactions, user and item features, the
Personalize interactions CSV, a quarantine of every excluded row with its reason, and a quality
report. The job reads its configuration from SSM (`/<project>/<env>/preprocessing/*`); this DAG only says which month.

1. **plan** - month (Param, else the month before the run's date), stack outputs, SSM keys.
2. **wait_for_raw_month** - the landing manifest, deferred (no worker slot held).
3. **choose_model** - fit the preprocessing model first when there is none or `refit_model` is set.
4. **fit_model** / **preprocess** - the job on ECS Fargate (deferrable, reattaches after a restart;
   on failure the container's last log lines are in the task log).
   The job publishes a *candidate*: its files under a prefix of the attempt's own and
   `processed/month=YYYY-MM/_candidate.json`, which no reader looks at.
5. **check_quality** - the candidate's report against the thresholds in Params; fails naming the
   figure, and the month stays as it was (the previous good run live, or absent).
6. **promote** - the live `processed/month=YYYY-MM/_manifest.json` swapped to the candidate (one
   PutObject), then superseded runs deleted - never the one the live manifest names.
7. **publish_user_features** / **publish_item_features** - `PutRecord` into the platform's feature groups.
8. **announce** - the `online_retail_processed_month` Asset with the manifest in its extra.

Readers (training, Personalize) read `s3://<OutputBucket>/processed/month=YYYY-MM/_manifest.json`
only: a rerun replaces the month once its gate passed; a failed job, a retry or a failed gate
leaves the previous one. Backfill a range of months with
`airflow backfill create --dag-id monthly_preprocessing --from-date 2011-02-15 --to-date 2011-11-15`
(each run's logical date on the 15th processes the month before; one run at a time).
"""


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
            description="Fail when more rows than this have a wrong field count, an unparsable number or date.",
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
        from mlops.months import resolve_month
        from mlops.tasks import monthly_preprocessing as steps

        return steps.plan(resolve_month(params, dag_run), params, run_id, container=CONTAINER, aws_conn_id=AWS_CONN_ID)

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
        """`preprocess` always runs; it also waits for `fit_model` when that is chosen."""
        from mlops.tasks import monthly_preprocessing as steps

        return steps.choose_model(plan, params["refit_model"], aws_conn_id=AWS_CONN_ID)

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
    # the monthly run can wait and be rerun: Fargate Spot, on demand when Spot has no capacity
    preprocess = EcsJobOperator(
        task_id="preprocess",
        overrides=run_plan["run_overrides"],
        fargate_spot=True,
        trigger_rule="none_failed_min_one_success",
        execution_timeout=timedelta(hours=1),
        **job_settings,
    )

    @task(retries=0, execution_timeout=timedelta(minutes=5))
    def check_quality(plan: dict, params=None) -> dict:
        """The job's report against the thresholds: a month that is mostly rejected is a data problem."""
        from mlops.tasks import monthly_preprocessing as steps

        return steps.check_quality(plan, params, aws_conn_id=AWS_CONN_ID)

    quality = check_quality(run_plan)

    @task(execution_timeout=timedelta(minutes=10))
    def promote(plan: dict, quality: dict) -> dict:
        """Only after the gate: the candidate becomes the month readers see."""
        from mlops.tasks import monthly_preprocessing as steps

        return steps.promote(plan, aws_conn_id=AWS_CONN_ID)

    promoted = promote(run_plan, quality)

    publish_users = FeatureStoreIngestOperator(
        task_id="publish_user_features",
        aws_conn_id=AWS_CONN_ID,
        feature_group_name=run_plan["user_feature_group"],
        source_uri="{{ ti.xcom_pull(task_ids='promote')['files']['user_features.parquet'] }}",
        event_time=run_plan["event_time"],
        execution_timeout=timedelta(minutes=30),
    )
    publish_items = FeatureStoreIngestOperator(
        task_id="publish_item_features",
        aws_conn_id=AWS_CONN_ID,
        feature_group_name=run_plan["item_feature_group"],
        source_uri="{{ ti.xcom_pull(task_ids='promote')['files']['item_features.parquet'] }}",
        event_time=run_plan["event_time"],
        execution_timeout=timedelta(minutes=30),
    )

    @task(outlets=[PROCESSED_MONTH], trigger_rule="none_failed", execution_timeout=timedelta(minutes=2))
    def announce(promoted: dict, outlet_events=None) -> dict:
        from mlops.tasks import monthly_preprocessing as steps

        outlet_events[PROCESSED_MONTH].extra = steps.processed_event(promoted)
        return outlet_events[PROCESSED_MONTH].extra

    choice = choose_model(run_plan)
    run_plan >> wait_for_raw_month >> choice >> [fit_model, preprocess]
    fit_model >> preprocess >> quality >> promoted >> [publish_users, publish_items] >> announce(promoted)


monthly_preprocessing()
