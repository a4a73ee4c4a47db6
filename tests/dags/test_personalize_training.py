"""personalize_training end to end on the local Personalize: real months imported and trained,
the first campaign, a better version updating it, a worse one kept out, and bad data refused early."""

from __future__ import annotations

import pytest

from tests.dags.conftest import land_and_preprocess, load_dag, states

pytestmark = pytest.mark.slow
MONTHS = ("2011-08", "2011-09", "2011-10")


@pytest.fixture
def dag():
    found = load_dag("personalize_training")
    for task in found.tasks:
        task.retries = 0
        if hasattr(task, "waiter_delay"):
            task.waiter_delay = 1
    return found


@pytest.fixture(scope="module")
def processed(platform, stack, airflow_db):
    """Three real months landed and preprocessed by the job's own code, as the DAGs would."""
    stack.backend("personalize", "123456789012", "us-east-1").delay = 0.3
    land_and_preprocess(stack, platform, MONTHS, drop_prefix="personalize", fit_until="2011-09", fit_window=2)
    return platform


def _run(dag, conf: dict):
    run = dag.test(run_conf=conf)
    return run, states(run)


def _xcom(run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key=key, dag_ids=run.dag_id, task_ids=task_id)
        ).first()
        return XComModel.deserialize_value(row)


def test_first_campaign_then_better_updates_and_worse_is_kept_out(dag, processed, stack, aws_conn, mlflow_conn, capfd):
    personalize, ssm = stack.client("personalize"), stack.client("ssm")
    up = {"recipe": "aws-user-personalization"}

    first, states = _run(dag, {**up, "month": "2011-08", "training_window_months": 1})
    assert first.state == "success", states
    campaign_arn = ssm.get_parameter(Name="/mlops/dev/personalize/campaign-arn")["Parameter"]["Value"]
    v1 = personalize.describe_campaign(campaignArn=campaign_arn)["campaign"]["solutionVersionArn"]
    assert v1 == _xcom(first, "train")["solutionVersionArn"]
    assert "no campaign yet" in _xcom(first, "gate", "decision")["reason"]
    tracking = ssm.get_parameter(Name="/mlops/dev/personalize/tracking-id")["Parameter"]["Value"]
    assert tracking

    second, states = _run(dag, {**up, "month": "2011-10", "training_window_months": 3})
    assert second.state == "success", states
    decision = _xcom(second, "gate", "decision")
    v2 = _xcom(second, "train")["solutionVersionArn"]
    assert decision["deploy"], decision
    served = personalize.describe_campaign(campaignArn=campaign_arn)["campaign"]
    assert served["solutionVersionArn"] == v2 and served["latestCampaignUpdate"]["status"] == "ACTIVE"

    third, states = _run(dag, {**up, "month": "2011-09", "training_window_months": 1})
    out = capfd.readouterr().out
    assert third.state == "success", states
    decision = _xcom(third, "gate", "decision")
    assert not decision["deploy"] and "keeps" in decision["reason"], decision
    assert states["deploy_campaign"] == "skipped" and states["record"] == "success"
    assert personalize.describe_campaign(campaignArn=campaign_arn)["campaign"]["solutionVersionArn"] == v2
    assert "the campaign keeps" in out

    import mlflow

    runs = mlflow.MlflowClient(mlflow_conn.url).search_runs(
        [mlflow.MlflowClient(mlflow_conn.url).get_experiment_by_name("personalize-training").experiment_id]
    )
    assert {r.data.tags["deployed"] for r in runs} == {"true", "false"}
    assert all("normalized_discounted_cumulative_gain_at_10" in r.data.metrics for r in runs)


def test_update_mode_is_refused_for_a_recipe_without_it(dag, processed, aws_conn, mlflow_conn, capfd):
    run, states = _run(dag, {"recipe": "aws-similar-items", "training_mode": "UPDATE", "month": "2011-10"})
    assert run.state == "failed" and states["plan"] == "failed"
    assert "training_mode UPDATE is only possible with" in capfd.readouterr().out


def test_the_api_serves_the_campaign_and_events_feed_an_update(dag, processed, stack, aws_conn, mlflow_conn):
    """After the runs above: the recommendation API answers from the campaign the DAG published - called
    over HTTP at the stage URL with the API key, as clients call it - and events put with the
    published tracking id are trained on by an UPDATE run."""
    from datetime import UTC, datetime

    from devstack.api_client import api_endpoint, get_recommendations
    from include.recommendation_api.handler import CAMPAIGN_PARAMETER

    ssm = stack.client("ssm")
    if not ssm.get_parameters(Names=[CAMPAIGN_PARAMETER])["Parameters"]:
        pytest.skip("needs the campaign of the test above")
    url, key = api_endpoint(stack.client, stack.url)

    def get(user: str, n: str | None = None) -> tuple[int, dict]:
        status, body, _ = get_recommendations(url, key, user, n, cafile=stack.ca_bundle)
        return status, body

    status, body = get("17850", "5")
    assert status == 200 and len(body["items"]) == 5 and body["recommendationId"], body
    assert get("never-seen-customer", "3")[0] == 200  # new users get the popular items
    assert get("17850", "0") == (400, {"message": "numResults must be an integer from 1 to 500"})
    assert get_recommendations(url, None, "17850", "5", cafile=stack.ca_bundle)[:2] == (403, {"message": "Forbidden"})

    tracking = ssm.get_parameter(Name="/mlops/dev/personalize/tracking-id")["Parameter"]["Value"]
    stack.client("personalize-events").put_events(
        trackingId=tracking,
        userId="web-visitor-1",
        sessionId="session-1",
        eventList=[
            {"eventType": "purchase", "itemId": item, "sentAt": datetime.now(UTC)} for item in ("85123A", "22423")
        ],
    )
    run, states = _run(
        dag,
        {
            "recipe": "aws-user-personalization",
            "training_mode": "UPDATE",
            "month": "2011-10",
            "training_window_months": 3,
        },
    )
    assert run.state == "success", states
    version = _xcom(run, "train")
    assert version["trainingMode"] == "UPDATE"
    # the streamed customer is in what the UPDATE version learned (the FULL import kept the events)
    trained = stack.backend("personalize", "123456789012", "us-east-1").models[version["solutionVersionArn"]]
    assert "web-visitor-1" in trained.users
