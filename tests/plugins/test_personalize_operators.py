"""The Personalize operators against the local Personalize, in small DAGs: create, rerun reuse,
update, failure with the service's reason, throttling."""

from __future__ import annotations

import time
import uuid

import pendulum
import pytest

from devstack.datasets import month_file
from include.personalize.schema import interactions_schema_json
from include.preprocessing import job as preprocessing
from tests.conftest import run_dag

pytestmark = pytest.mark.slow
ROLE = "arn:aws:iam::123456789012:role/personalize"
RECIPE = "arn:aws:personalize:::recipe/"


@pytest.fixture(scope="module")
def data(stack, tmp_path_factory) -> dict:
    stack.backend("personalize", "123456789012", "us-east-1").delay = 0.2
    root = tmp_path_factory.mktemp("personalize-ops")
    fitted = preprocessing.fit_files([(str(month_file("2011-09")), "2011-09")], ["2011-09"])
    preprocessing.process_file(str(month_file("2011-09")), "2011-09", fitted, str(root), "2011-09")
    bucket = f"p-ops-{uuid.uuid4().hex[:8]}"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(root / "personalize_interactions.csv"), bucket, "good/interactions.csv")
    s3.put_object(Bucket=bucket, Key="short/interactions.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n1,a,1,b\n")
    return {"bucket": bucket}


def _chain(name: str, data: dict, *, location: str = "good/interactions.csv", version: str = "v1", mode="FULL"):
    from airflow.sdk import DAG

    from mlops.operators import personalize as ops

    fast = {"waiter_delay": 1, "waiter_max_attempts": 300}
    with DAG(f"p_{name.replace('-', '_')}_{version}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        group = ops.PersonalizeCreateDatasetGroupOperator(task_id="group", name=name, **fast)
        schema = ops.PersonalizeCreateSchemaOperator(
            task_id="schema", name=f"{name}-s", schema=interactions_schema_json()
        )
        dataset = ops.PersonalizeCreateDatasetOperator(
            task_id="dataset",
            name=f"{name}-interactions",
            dataset_group_arn="{{ ti.xcom_pull(task_ids='group')['datasetGroupArn'] }}",
            dataset_type="Interactions",
            schema_arn="{{ ti.xcom_pull(task_ids='schema')['schemaArn'] }}",
            **fast,
        )
        imported = ops.PersonalizeDatasetImportOperator(
            task_id="import",
            job_name=f"{name}-import-{version}",
            dataset_arn="{{ ti.xcom_pull(task_ids='dataset')['datasetArn'] }}",
            data_location=f"s3://{data['bucket']}/{location}",
            role_arn=ROLE,
            **fast,
        )
        solution = ops.PersonalizeCreateSolutionOperator(
            task_id="solution",
            name=f"{name}-pop",
            dataset_group_arn="{{ ti.xcom_pull(task_ids='group')['datasetGroupArn'] }}",
            recipe_arn=RECIPE + "aws-popularity-count",
            **fast,
        )
        trained = ops.PersonalizeTrainSolutionVersionOperator(
            task_id="train",
            name=f"{name}-{version}",
            solution_arn="{{ ti.xcom_pull(task_ids='solution')['solutionArn'] }}",
            training_mode=mode,
            **fast,
        )
        metrics = ops.PersonalizeSolutionMetricsOperator(
            task_id="metrics", solution_version_arn="{{ ti.xcom_pull(task_ids='train')['solutionVersionArn'] }}"
        )
        campaign = ops.PersonalizeDeployCampaignOperator(
            task_id="campaign",
            name=f"{name}-campaign",
            solution_version_arn="{{ ti.xcom_pull(task_ids='train')['solutionVersionArn'] }}",
            min_provisioned_tps=1,
            **fast,
        )
        group >> schema >> dataset >> imported >> solution >> trained >> metrics >> campaign
    for task in dag.tasks:
        task.retries = 0
    return dag


def _task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_create_then_rerun_reuses_and_a_new_version_updates_the_campaign(data, stack, admin_conn, airflow_db):
    name = f"ops-{uuid.uuid4().hex[:6]}"
    personalize = stack.client("personalize")
    stack.faults.arm_api("personalize", "CreateDatasetGroup", "ThrottlingException", count=2)
    stack.faults.arm_api("personalize", "CreateCampaign", "LimitExceededException", count=1)
    first = run_dag(_chain(name, data))
    assert first.state == "success", _task_states(first)
    groups = [g for g in personalize.list_dataset_groups()["datasetGroups"] if g["name"] == name]
    assert len(groups) == 1  # throttled twice, created once
    (campaign,) = [c for c in personalize.list_campaigns()["campaigns"] if c["name"] == f"{name}-campaign"]
    v1 = personalize.describe_campaign(campaignArn=campaign["campaignArn"])["campaign"]["solutionVersionArn"]

    again = run_dag(_chain(name, data))  # same names: everything is found and reused
    assert again.state == "success", _task_states(again)
    assert len(personalize.list_solution_versions(solutionArn=v1.rsplit("/", 1)[0])["solutionVersions"]) == 1
    assert (
        len(
            personalize.list_dataset_import_jobs(
                datasetArn=groups[0]["datasetGroupArn"].replace("dataset-group/", "dataset/") + "/INTERACTIONS"
            )["datasetImportJobs"]
        )
        == 1
    )

    update = run_dag(_chain(name, data, version="v2", mode="UPDATE"))
    assert update.state == "success", _task_states(update)
    served = personalize.describe_campaign(campaignArn=campaign["campaignArn"])["campaign"]
    assert served["solutionVersionArn"] != v1 and served["solutionVersionArn"].startswith(v1.rsplit("/", 1)[0])
    assert served["latestCampaignUpdate"]["status"] == "ACTIVE"


def test_a_failed_import_fails_its_task_with_the_reason(data, stack, admin_conn, airflow_db, capfd):
    name = f"bad-{uuid.uuid4().hex[:6]}"
    run = run_dag(_chain(name, data, location="short/interactions.csv"))
    states = _task_states(run)
    assert run.state == "failed" and states["import"] == "failed" and states["solution"] == "upstream_failed"
    out = capfd.readouterr().out
    assert "Personalize dataset_import_job" in out and "at least 1000 are required" in out


def test_a_solution_cannot_change_its_recipe(data, stack, admin_conn):
    from mlops.hooks.personalize import PersonalizeConflict, PersonalizeHook

    hook = PersonalizeHook()
    group, _ = hook.ensure_dataset_group(f"conf-{uuid.uuid4().hex[:6]}")
    while hook.describe("dataset_group", group["datasetGroupArn"])["status"] != "ACTIVE":
        time.sleep(0.1)
    name = f"fixed-{uuid.uuid4().hex[:6]}"
    hook.ensure_solution(name, group["datasetGroupArn"], RECIPE + "aws-popularity-count", None)
    with pytest.raises(PersonalizeConflict, match="recipe is fixed"):
        hook.ensure_solution(name, group["datasetGroupArn"], RECIPE + "aws-user-personalization", None)
