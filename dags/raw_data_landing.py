"""Land a month of raw purchases from the partner's drop location into the platform's raw zone."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import dag, task

from mlops.alerting import failure_alert
from mlops.assets import RAW_MONTH
from mlops.operators.ecs import EcsJobOperator
from mlops.params import month_param
from mlops.settings import AWS_CONN_ID

INGEST_CONTAINER = "ingest"  # container name in the preprocessing stack's ingest task definition

DOC = """
### Raw data landing
A partner drops each month's purchase lines (`YYYY-MM.csv.gz`) under the drop prefix (Airflow
Variable `raw_drop_prefix`, e.g. `s3://partner-drop/online-retail/`), with a `SHA256SUMS` file.
This DAG waits for the file without holding a worker slot, then a Fargate job copies it into the
raw zone (`s3://<InputBucket>/raw/online-retail/month=YYYY-MM/`) after checking its digest,
compression, encoding, header, field counts (refused past `/<project>/<env>/preprocessing/max-bad-share`, as
the preprocessing job does) and line length; a file without data rows is refused. Each landing
gets keys of its own (`landing=<id>/`), staged under `raw/_staging/` (leftovers expire by a
lifecycle rule); `_manifest.json` is then swapped to it and the replaced landing deleted: a rerun
never shows new data under the old manifest, and never duplicates. Emits the
`online_retail_raw_month` Asset with the month and URIs in its extra.

Stack outputs (cluster, task definition, buckets, subnets) are read at run time from SSM under
`/<project>/<env>/stacks/preprocessing/`.
"""


@dag(
    dag_id="raw_data_landing",
    schedule="0 6 1 * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["landing", "ecs", "data"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    params={
        "month": month_param("Month to land; empty means the month before the run's date."),
    },
)
def raw_data_landing():
    @task(execution_timeout=timedelta(minutes=2))
    def plan_landing(params=None, dag_run=None) -> dict:
        """Everything the run needs, resolved once: month, URIs, and the ECS run spec."""
        from airflow.sdk import Variable

        from mlops.months import resolve_month
        from mlops.tasks import raw_data_landing as steps

        month = resolve_month(params, dag_run)
        drop_prefix = Variable.get("raw_drop_prefix")
        return steps.plan(month, drop_prefix, container=INGEST_CONTAINER, aws_conn_id=AWS_CONN_ID)

    plan = plan_landing()

    wait_for_drop = S3KeySensor(
        task_id="wait_for_drop",
        aws_conn_id=AWS_CONN_ID,
        bucket_key=plan["source_uri"],
        deferrable=True,
        poke_interval=300,
        timeout=timedelta(days=3).total_seconds(),
        retries=0,
    )

    ingest = EcsJobOperator(
        task_id="ingest",
        aws_conn_id=AWS_CONN_ID,
        cluster=plan["cluster"],
        task_definition=plan["task_definition"],
        overrides=plan["overrides"],
        network_configuration=plan["network_configuration"],
        awslogs_group=plan["log_group"],
        awslogs_stream_prefix=INGEST_CONTAINER,
        container_name=INGEST_CONTAINER,
        waiter_delay=5,
        waiter_max_attempts=360,
        execution_timeout=timedelta(minutes=45),
    )

    @task(outlets=[RAW_MONTH], execution_timeout=timedelta(minutes=2))
    def publish_landed(plan: dict, outlet_events=None) -> dict:
        """Read the manifest the job wrote last and announce the month to consumers."""
        from mlops.tasks import raw_data_landing as steps

        manifest, extra = steps.landed(plan, aws_conn_id=AWS_CONN_ID)
        outlet_events[RAW_MONTH].extra = extra
        return manifest

    plan >> wait_for_drop >> ingest >> publish_landed(plan)


raw_data_landing()
