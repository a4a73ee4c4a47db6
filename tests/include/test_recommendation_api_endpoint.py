"""The API's A/B side: the endpoint's recommendations with their variant, the impression and
conversion records the A/B sensor reads, and the conversion path's refusals and idempotency.

SageMaker's runtime is stubbed with botocore's Stubber (it validates every request against the
service model); DynamoDB and CloudWatch are the local stack's, so the metrics checked are the ones
stored, read back as the sensor reads them (Sum per EndpointName/VariantName).
"""

from __future__ import annotations

import io
import json
import types
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from include.recommendation_api import common, endpoint
from include.recommendation_api import handler as api


@pytest.fixture
def world(stack, monkeypatch):
    """A fresh impressions table, a fresh endpoint name (so metrics start at zero) and a stubbed runtime."""
    dynamodb = stack.client("dynamodb")
    table = f"impressions-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "recommendation_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "recommendation_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    name = f"ep-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(endpoint, "IMPRESSIONS_TABLE", table)
    monkeypatch.setattr(endpoint, "ENDPOINT_NAME", name)
    monkeypatch.setattr(endpoint, "CONVERSION_NAMESPACE", "MLOps/Recommendations")
    monkeypatch.setitem(common._clients, "dynamodb", dynamodb)
    monkeypatch.setitem(common._clients, "cloudwatch", stack.client("cloudwatch"))
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    monkeypatch.setitem(common._clients, "sagemaker-runtime", runtime)
    with Stubber(runtime) as stubber:
        yield types.SimpleNamespace(stub=stubber, endpoint=name, table=table, stack=stack)
        stubber.assert_no_pending_responses()


def serve(world, variant: str, items: list[str], user: str = "17850", num: int = 3, country: str | None = None):
    payload = json.dumps({"user_id": user, "items": items, "scores": [1.0] * len(items)}).encode()
    body = {"user_id": user, "num_results": num, "context": {"country": country} if country else {}}
    world.stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "InvokedProductionVariant": variant},
        {
            "EndpointName": world.endpoint,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": json.dumps(body),
        },
    )


def call(method: str, resource: str, path=None, query=None, body=None) -> tuple[int, dict]:
    event = {
        "httpMethod": method,
        "resource": resource,
        "pathParameters": path,
        "queryStringParameters": query,
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
    }
    answer = api.handler(event, types.SimpleNamespace(aws_request_id="req-1"))
    return answer["statusCode"], json.loads(answer["body"])


def recommend(user="17850", num="3", country=None):
    query = {"numResults": num} | ({"country": country} if country else {})
    return call("GET", "/model/recommendations/{userId}", {"userId": user}, query)


def convert(recommendation_id, item_id):
    return call("POST", "/conversions", body={"recommendationId": recommendation_id, "itemId": item_id})


def sums(world, variant: str) -> dict[str, float]:
    """What the A/B sensor reads: Sum of each metric for the endpoint's variant."""
    now = datetime.now(UTC)
    found = {}
    for metric in ("Impressions", "Conversions"):
        points = world.stack.client("cloudwatch").get_metric_statistics(
            Namespace="MLOps/Recommendations",
            MetricName=metric,
            Dimensions=[{"Name": "EndpointName", "Value": world.endpoint}, {"Name": "VariantName", "Value": variant}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        found[metric] = sum(p["Sum"] for p in points)
    return found


def test_a_recommendation_names_its_variant_and_counts_an_impression(world):
    serve(world, "challenger", ["85123A", "22423", "47566"], country="United Kingdom")
    status, body = recommend(country="United Kingdom")
    assert status == 200, body
    assert body["variant"] == "challenger" and len(body["recommendationId"]) == 32
    assert [i["itemId"] for i in body["items"]] == ["85123A", "22423", "47566"]
    assert sums(world, "challenger") == {"Impressions": 1.0, "Conversions": 0.0}
    stored = world.stack.client("dynamodb").get_item(
        TableName=world.table, Key={"recommendation_id": {"S": body["recommendationId"]}}
    )["Item"]
    assert stored["variant"]["S"] == "challenger" and stored["endpoint_name"]["S"] == world.endpoint


def test_a_purchase_counts_once_for_the_variant_that_served_it(world):
    serve(world, "champion", ["85123A", "22423", "47566"])
    _, shown = recommend()
    rid = shown["recommendationId"]
    assert convert(rid, "22423") == (
        200,
        {"recommendationId": rid, "itemId": "22423", "variant": "champion", "counted": True},
    )
    # the client retries (timeout, lost answer) and buys a second recommended item: nothing more counts
    status, retry = convert(rid, "22423")
    assert (status, retry["counted"], retry["message"]) == (200, False, "already recorded (a retry)")
    status, second = convert(rid, "47566")
    assert (status, second["counted"]) == (200, False) and "counts once" in second["message"]
    assert sums(world, "champion") == {"Impressions": 1.0, "Conversions": 1.0}
    assert sums(world, "challenger") == {"Impressions": 0.0, "Conversions": 0.0}


def test_conversions_that_cannot_be_attributed_are_refused_with_a_reason(world):
    serve(world, "champion", ["85123A", "22423"])
    _, shown = recommend()
    rid = shown["recommendationId"]
    status, body = convert(rid, "99999")
    assert status == 422 and body["message"] == f"item 99999 was not among the items of recommendation {rid}"
    status, body = convert(uuid.uuid4().hex, "85123A")
    assert status == 404 and "is unknown" in body["message"]
    # past the conversion window: the purchase no longer counts
    world.stack.client("dynamodb").update_item(
        TableName=world.table,
        Key={"recommendation_id": {"S": rid}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    status, body = convert(rid, "85123A")
    assert status == 410 and "conversion window" in body["message"]
    assert sums(world, "champion") == {"Impressions": 1.0, "Conversions": 0.0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "the body must be a JSON object"),
        ("not json", "the body is not JSON"),
        ("[1, 2]", "the body must be a JSON object"),
        ({"recommendationId": "x", "itemId": "85123A"}, "recommendationId must be"),
        ({"recommendationId": "a" * 32 + "\n", "itemId": "85123A"}, "recommendationId must be"),
        ({"recommendationId": "a" * 32}, "itemId must be"),
        ({"recommendationId": "a" * 32, "itemId": "8512 3A"}, "itemId must be"),
        ({"recommendationId": "a" * 32, "itemId": "85123A", "variant": "challenger"}, "unknown fields ['variant']"),
    ],
)
def test_bad_conversion_bodies_are_400s_that_say_what(world, body, message):
    status, answer = call("POST", "/conversions", body=body)
    assert status == 400 and answer["message"].startswith(message), answer


@pytest.mark.parametrize(
    ("user", "num", "country", "message"),
    [
        ("abc\n", "3", None, "userId must be"),
        ("u1", "0", None, "numResults must be"),
        ("u1", "3", "France\n", "country must be"),
        ("u1", "3", "<script>", "country must be"),
    ],
)
def test_bad_recommendation_requests_are_400s(world, user, num, country, message):
    status, answer = recommend(user, num, country)
    assert status == 400 and answer["message"].startswith(message)


def test_a_missing_endpoint_is_a_503_and_a_failing_model_a_502(world, caplog):
    world.stub.add_client_error(
        "invoke_endpoint", "ValidationError", f"Endpoint {world.endpoint} of account 1 not found.", 400
    )
    assert recommend() == (503, {"message": "recommendations are not available yet", "requestId": "req-1"})
    world.stub.add_client_error("invoke_endpoint", "ModelError", "secret traceback", 424)
    assert recommend() == (502, {"message": "model unavailable", "requestId": "req-1"})
    assert "secret traceback" in caplog.text
    assert sums(world, "champion")["Impressions"] == 0.0


def test_an_impression_that_cannot_be_recorded_is_not_shown(world, monkeypatch):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    monkeypatch.setitem(common._clients, "cloudwatch", cloudwatch)
    serve(world, "champion", ["85123A"])
    with Stubber(cloudwatch) as failing:
        failing.add_client_error("put_metric_data", "InternalServiceError", "down", 500)
        status, body = recommend()
    assert status == 502 and body["message"] == "recommendations are unavailable right now"
    assert world.stack.client("dynamodb").scan(TableName=world.table)["Count"] == 0
