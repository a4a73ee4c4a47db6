"""Fixtures for the DAG tests: each module names its DAG (`DAG_ID`) and gets it freshly parsed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def load_dag(dag_id: str):
    """The DAG of `dags/<dag_id>.py`, parsed now (dag.test() leaves run conf in a DAG's params)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py")).get_dag(dag_id)


@pytest.fixture
def dag(request):
    """The test module's DAG (its `DAG_ID`), freshly parsed for each test."""
    return load_dag(request.module.DAG_ID)


def states(dag_run) -> dict[str, str]:
    """task_id -> state of a finished DAG run."""
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def land_and_preprocess(
    stack, platform: dict, months: tuple[str, ...], *, drop_prefix: str, fit_until: str, fit_window: int
) -> None:
    """Real months landed by the landing job's code and preprocessed by the preprocessing job's code,
    as raw_data_landing and monthly_preprocessing would (without running those DAGs)."""
    from devstack.datasets import month_file
    from include.jobs import raw_ingest
    from include.preprocessing import job as preprocessing
    from include.preprocessing import outputs

    s3, ssm = stack.client("s3"), stack.client("ssm")
    for month in months:
        s3.put_object(Bucket="partner-drop", Key=f"{drop_prefix}/{month}.csv.gz", Body=month_file(month).read_bytes())
        raw_ingest.run(
            {
                "SOURCE_URI": f"s3://partner-drop/{drop_prefix}/{month}.csv.gz",
                "TARGET_PREFIX": f"s3://{platform['InputBucket']}/raw/online-retail/month={month}/",
                "MONTH": month,
            },
            s3,
        )
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = stack.url  # the job reaches S3 and SSM as in its container
    try:
        preprocessing.fit(s3, ssm, "/mlops/dev/preprocessing", fit_until, fit_window)
        for month in months:
            run_id = f"{drop_prefix}-fixture-{month}"
            preprocessing.run(s3, ssm, "/mlops/dev/preprocessing", month, run_id=run_id)
            # what monthly_preprocessing's `promote` does once the quality gate passed
            outputs.promote(s3, platform["OutputBucket"], f"processed/month={month}/", run_id)
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
