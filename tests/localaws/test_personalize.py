"""Local Amazon Personalize through boto3: status progression, imports checked against the schema,
solution versions trained on a real month with Personalize's metrics, campaigns, runtime, events."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from devstack.datasets import month_file
from include.personalize.schema import interactions_schema_json
from include.preprocessing import job as preprocessing

ROLE = "arn:aws:iam::123456789012:role/personalize"
RECIPE = "arn:aws:personalize:::recipe/"


def wait(describe, key: str, field: str = "status", timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = describe()[key]
        status = found[field] if field == "status" else found[field]["status"]
        if status in ("ACTIVE", "CREATE FAILED"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{key} did not settle: {found}")


@pytest.fixture(scope="module")
def group(stack, tmp_path_factory) -> dict:
    """A dataset group with the real 2011-10 interactions imported (the preprocessing job's CSV)."""
    stack.backend("personalize", "123456789012", "us-east-1").delay = 0.2
    personalize, s3 = stack.client("personalize"), stack.client("s3")
    root = tmp_path_factory.mktemp("personalize")
    fitted = preprocessing.fit_files([(str(month_file("2011-10")), "2011-10")], ["2011-10"])
    preprocessing.process_file(str(month_file("2011-10")), "2011-10", fitted, str(root), "2011-10")
    bucket = f"personalize-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(root / "personalize_interactions.csv"), bucket, "month=2011-10/interactions.csv")
    s3.put_object(
        Bucket=bucket,
        Key="bad/interactions.csv",
        Body=b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n1,2,yesterday,purchase\n",
    )

    name = f"dsg-{uuid.uuid4().hex[:6]}"
    arn = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    first = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]
    assert first == "CREATE PENDING"
    assert wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn), "datasetGroup")["status"] == "ACTIVE"
    schema = personalize.create_schema(name=f"{name}-schema", schema=interactions_schema_json())["schemaArn"]
    dataset = personalize.create_dataset(
        name=f"{name}-interactions", datasetGroupArn=arn, datasetType="Interactions", schemaArn=schema
    )["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset), "dataset")
    job = personalize.create_dataset_import_job(
        jobName=f"{name}-import",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{bucket}/month=2011-10/interactions.csv"},
        roleArn=ROLE,
    )["datasetImportJobArn"]
    done = wait(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
    assert done["status"] == "ACTIVE", done
    return {"arn": arn, "name": name, "dataset": dataset, "bucket": bucket}


def test_names_schemas_and_duplicates_are_validated(stack, group):
    personalize = stack.client("personalize")
    with pytest.raises(ClientError, match="InvalidInputException"):
        personalize.create_dataset_group(name="bad name!")
    with pytest.raises(ClientError, match="not a valid Avro record schema"):
        personalize.create_schema(name=f"s-{uuid.uuid4().hex[:6]}", schema='{"type": "record", "fields": []}')
    with pytest.raises(ClientError, match="ResourceAlreadyExistsException"):
        personalize.create_dataset_group(name=group["name"])
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        personalize.describe_solution(solutionArn="arn:aws:personalize:us-east-1:123456789012:solution/none")


def test_a_bad_file_fails_the_import_with_the_line_and_field(stack, group):
    personalize = stack.client("personalize")
    job = personalize.create_dataset_import_job(
        jobName=f"bad-{uuid.uuid4().hex[:6]}",
        datasetArn=group["dataset"],
        dataSource={"dataLocation": f"s3://{group['bucket']}/bad/interactions.csv"},
        roleArn=ROLE,
        importMode="INCREMENTAL",
    )["datasetImportJobArn"]
    failed = wait(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
    assert failed["status"] == "CREATE FAILED"
    assert "line 2" in failed["failureReason"] and "TIMESTAMP='yesterday'" in failed["failureReason"]


def test_train_serve_update_and_stream_events(stack, group):
    personalize, runtime = stack.client("personalize"), stack.client("personalize-runtime")
    solution = personalize.create_solution(
        name=f"{group['name']}-up", datasetGroupArn=group["arn"], recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution), "solution")
    with pytest.raises(ClientError, match="UPDATE needs an ACTIVE FULL"):
        personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")
    full = personalize.create_solution_version(solutionArn=solution, trainingMode="FULL")["solutionVersionArn"]
    with pytest.raises(ClientError, match="ResourceInUseException"):
        personalize.create_solution_version(solutionArn=solution)
    trained = wait(lambda: personalize.describe_solution_version(solutionVersionArn=full), "solutionVersion")
    assert trained["status"] == "ACTIVE", trained
    metrics = personalize.get_solution_metrics(solutionVersionArn=full)["metrics"]
    assert set(metrics) >= {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_10"}
    assert 0 < metrics["precision_at_10"] <= 1

    popular = personalize.create_solution(
        name=f"{group['name']}-pop", datasetGroupArn=group["arn"], recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=popular), "solution")
    baseline = personalize.create_solution_version(solutionArn=popular)["solutionVersionArn"]
    wait(lambda: personalize.describe_solution_version(solutionVersionArn=baseline), "solutionVersion")
    pop_metrics = personalize.get_solution_metrics(solutionVersionArn=baseline)["metrics"]
    # the same held-out users and the same definitions: the personal model must rank better
    ndcg = "normalized_discounted_cumulative_gain_at_10"
    assert metrics[ndcg] > pop_metrics[ndcg]

    campaign = personalize.create_campaign(name=f"{group['name']}-c", solutionVersionArn=full, minProvisionedTPS=1)[
        "campaignArn"
    ]
    with pytest.raises(ClientError, match="not ACTIVE"):
        runtime.get_recommendations(campaignArn=campaign, userId="12347")
    wait(lambda: personalize.describe_campaign(campaignArn=campaign), "campaign")
    answer = runtime.get_recommendations(campaignArn=campaign, userId="12347", numResults=7)
    assert len(answer["itemList"]) == 7 and answer["recommendationId"]
    ranking = runtime.get_personalized_ranking(
        campaignArn=campaign, userId="12347", inputList=[i["itemId"] for i in answer["itemList"]][::-1]
    )
    assert [i["itemId"] for i in ranking["personalizedRanking"]] == [i["itemId"] for i in answer["itemList"]]

    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=baseline, minProvisionedTPS=2)
    during = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert during["status"] == "ACTIVE" and during["latestCampaignUpdate"]["status"] != "ACTIVE"
    assert during["solutionVersionArn"] == full  # still serving the old version while updating
    after = wait(lambda: personalize.describe_campaign(campaignArn=campaign), "campaign", "latestCampaignUpdate")
    assert after["solutionVersionArn"] == baseline and after["minProvisionedTPS"] == 2

    tracker = personalize.create_event_tracker(name=f"{group['name']}-events", datasetGroupArn=group["arn"])
    wait(lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]), "eventTracker")
    stack.client("personalize-events").put_events(
        trackingId=tracker["trackingId"],
        userId="new-customer-1",
        sessionId="s-1",
        eventList=[{"eventType": "purchase", "itemId": "85123A", "sentAt": datetime.now(UTC)}],
    )
    update = personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")["solutionVersionArn"]
    trained = wait(lambda: personalize.describe_solution_version(solutionVersionArn=update), "solutionVersion")
    assert trained["status"] == "ACTIVE" and trained["trainingMode"] == "UPDATE"
    with pytest.raises(ClientError, match="tracking id"):
        stack.client("personalize-events").put_events(
            trackingId="nope", userId="u", sessionId="s", eventList=[{"eventType": "x", "sentAt": datetime.now(UTC)}]
        )
