"""model_training end to end with `dag.test()` on the local stack and a local MLflow server:
real months, a real training job in script mode, the decision, registration and its idempotency."""

from __future__ import annotations

import pytest

from tests.dags.conftest import land_and_preprocess, states

pytestmark = pytest.mark.slow
DAG_ID = "model_training"
MONTHS = ("2011-07", "2011-08", "2011-09", "2011-10")


@pytest.fixture(scope="module")
def processed(platform, stack, airflow_db):
    """Four real months landed and preprocessed by the job's own code, as the DAGs would."""
    land_and_preprocess(stack, platform, MONTHS, drop_prefix="training", fit_until="2011-09", fit_window=3)
    return platform


def xcom(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, key="return_value", dag_ids=dag_run.dag_id, task_ids=task_id)
        ).first()
        return XComModel.deserialize_value(row)


def rerun_register(dag_run) -> dict:
    """The register step of a finished DAG run, executed again with that run's own inputs."""
    from mlops.settings import TRAINING_IMAGE
    from mlops.tasks import model_training

    params = {"min_improvement": 0.0, "training_image": dag_run.conf.get("training_image") or TRAINING_IMAGE}
    return model_training.register(
        xcom(dag_run, "plan"),
        xcom(dag_run, "decide"),
        xcom(dag_run, "stage_data"),
        xcom(dag_run, "train")["Training"],
        params,
        run_id=dag_run.run_id,
        aws_conn_id="aws_default",
        mlflow_conn_id="mlflow_default",
        experiment="recommender-training",
        model_name="recommender",
        package_group="mlops-recommender-dev",
    )


def assessment_run_of(mlflow_server, dag_run_id: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    experiment = client.get_experiment_by_name("recommender-training")
    (run,) = client.search_runs([experiment.experiment_id], filter_string=f"tags.assessment_of = '{dag_run_id}'")
    return run


def artifacts(mlflow_server, run_id: str, path: str = "assessment") -> set[str]:
    from mlflow import MlflowClient

    return {a.path for a in MlflowClient(tracking_uri=mlflow_server.url).list_artifacts(run_id, path)}


def versions(mlflow_server) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    return sorted(client.search_model_versions("name = 'recommender'"), key=lambda v: int(v.version))


def alias_of(mlflow_server, alias: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url).get_model_version_by_alias(
        "recommender", alias
    )


def packages(stack) -> list[dict]:
    """The group's packages of the `recommender` model (other tests add theirs to the group)."""
    found = stack.client("sagemaker").list_model_packages(ModelPackageGroupName="mlops-recommender-dev")
    return [
        p
        for p in found["ModelPackageSummaryList"]
        if p.get("ModelPackageDescription", "").startswith("MLflow recommender version ")
    ]


def test_the_lifecycle_of_training_decisions(dag, processed, aws_conn, mlflow_conn, capfd):
    for task_id in ("plan_assessment", "assess", "decide", "register", "stage_data", "package_code"):
        dag.get_task(task_id).retries = 0  # a failure here is a bug: no retry delay in tests
    # 1. no model yet: train, register, champion
    first = dag.test(run_conf={"month": "2011-09", "training_window_months": 2})
    assert first.state == "success", states(first)
    assert states(first)["announce"] == "success"
    assert [v.version for v in versions(mlflow_conn)] == ["1"]
    champion = alias_of(mlflow_conn, "champion")
    assert champion.version == "1" and champion.tags["train_months"] == "2011-07,2011-08"
    logged = "".join(capfd.readouterr())
    assert "retrain: no champion model yet" in logged
    assert states(first)["assess"] == "skipped"  # no champion: nothing to assess, no job
    assert not aws_conn.client("sagemaker").list_processing_jobs(NameContains="-assess-")["ProcessingJobSummaries"]
    assert [p["ModelApprovalStatus"] for p in packages(aws_conn)] == ["Approved"]

    # a rerun of that DAG run's registration finds its MLflow run and version: nothing new
    again = rerun_register(first)
    assert (again["version"], again["new_version"]) == ("1", False)
    assert len(versions(mlflow_conn)) == 1
    assert len(packages(aws_conn)) == 1

    # 2. the same month again: no drift, no decay, young model -> nothing is trained
    quiet = dag.test(run_conf={"month": "2011-09", "training_window_months": 2})
    assert quiet.state == "success", states(quiet)
    assert states(quiet)["train"] == "skipped" and states(quiet)["register"] == "skipped"
    assert "no retraining:" in "".join(capfd.readouterr())
    assert len(versions(mlflow_conn)) == 1
    # the assessment ran as a Processing job, not on the worker; its run keeps the table and chart
    quiet_assessment = xcom(quiet, "decide")
    job = aws_conn.client("sagemaker").describe_processing_job(ProcessingJobName=quiet_assessment["assessment_job"])
    assert job["ProcessingJobStatus"] == "Completed" and job["RoleArn"] == xcom(quiet, "plan")["role_arn"]
    assert quiet_assessment["champion"]["metrics_now"]["ndcg_at_10"] > 0
    assessment_run = assessment_run_of(mlflow_conn, quiet.run_id)
    assert assessment_run.data.tags["decision"].startswith("no retraining:")
    assert artifacts(mlflow_conn, assessment_run.info.run_id) == {
        "assessment/assessment.json",
        "assessment/drift.csv",
        "assessment/drift.png",
    }

    # 3. October drifts from July-August (the run towards Christmas): retrain, register a challenger
    drifted = dag.test(run_conf={"month": "2011-10", "training_window_months": 2})
    assert drifted.state == "success", states(drifted)
    logged = "".join(capfd.readouterr())
    assert "retrain: data drift:" in logged
    assert [v.version for v in versions(mlflow_conn)] == ["1", "2"]
    newest = versions(mlflow_conn)[-1]
    assert newest.tags["gate"]
    assert alias_of(mlflow_conn, "champion").version == "1"
    # trained on August-September, it beats the July-August champion on October's customers
    assert alias_of(mlflow_conn, "challenger").version == newest.version, newest.tags["gate"]
    assert newest.tags["gate"].startswith("ndcg_at_10")
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=mlflow_conn.url).get_run(newest.run_id)
    assert run.data.tags["dag_run_id"] == drifted.run_id
    assert {"assessment/drift.csv", "assessment/drift.png"} <= artifacts(mlflow_conn, run.info.run_id)
    table = MlflowClient(tracking_uri=mlflow_conn.url).download_artifacts(run.info.run_id, "assessment/drift.csv")
    with open(table) as fh:
        header, *rows = fh.read().splitlines()
    assert header == "feature,measure,value,threshold,drifted" and len(rows) == 7
    assert any(r.startswith("item,jensenshannon,") and r.endswith(",True") for r in rows)
    assert run.data.tags["data.train"].startswith("s3://mlops-platform-dev-")
    # scored in the training job (evaluation.json), bootstrapped in register: the interval clears 0
    assert run.data.metrics["challenger_ndcg_at_10"] >= run.data.metrics["champion_ndcg_at_10"]
    assert run.data.metrics["challenger_ndcg_at_10"] > run.data.metrics["popularity_ndcg_at_10"]
    assert run.data.metrics["challenger_ndcg_at_10"] > run.data.metrics["personal_popularity_ndcg_at_10"]
    assert run.data.metrics["challenger_vs_champion_gain_lower"] > 0
    assert "CI [" in newest.tags["gate"]
    logged = {a.path for a in MlflowClient(tracking_uri=mlflow_conn.url).list_artifacts(newest.run_id, "evaluation")}
    assert logged == {"evaluation/model_comparison.png", "evaluation/gate.json"}
    statuses = [p["ModelApprovalStatus"] for p in packages(aws_conn)]
    assert sorted(statuses) == ["Approved", "PendingManualApproval"]


def test_a_failing_training_job_fails_the_run_with_its_reason(dag, processed, aws_conn, mlflow_conn, capfd):
    aws_conn.faults.arm_job("recommender-dev-repeat-", exit_code=1)  # the training job, not the assessment
    dag.get_task("train").retries = 0
    dag_run = dag.test(run_conf={"month": "2011-10", "training_window_months": 2, "force_retrain": True})
    assert dag_run.state == "failed"
    assert states(dag_run)["train"] == "failed" and states(dag_run)["register"] == "upstream_failed"
    assert "AlgorithmError" in "".join(capfd.readouterr())
