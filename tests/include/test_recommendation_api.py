"""The recommendation API handler: validation, the Personalize call, and errors that stay inside.

Personalize's runtime is stubbed with botocore's Stubber, which validates every request against
the service model; the SSM parameter comes from the local stack.
"""

from __future__ import annotations

import json
import types

import boto3
import pytest
from botocore.stub import Stubber

from include.recommendation_api import common
from include.recommendation_api import handler as api

CAMPAIGN = "arn:aws:personalize:us-east-1:123456789012:campaign/mlops-recommendations"


@pytest.fixture
def runtime(stack, monkeypatch):
    stack.client("ssm").put_parameter(Name=api.CAMPAIGN_PARAMETER, Value=CAMPAIGN, Type="String", Overwrite=True)
    monkeypatch.setattr(api, "_campaign", {"arn": None, "read_at": 0.0})
    monkeypatch.setitem(common._clients, "ssm", stack.client("ssm"))
    personalize = boto3.client("personalize-runtime", region_name="us-east-1")
    monkeypatch.setitem(common._clients, "personalize-runtime", personalize)
    with Stubber(personalize) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def call(user_id: str | None, num: str | None = None) -> tuple[int, dict]:
    event = {"pathParameters": {"userId": user_id} if user_id else None}
    event["queryStringParameters"] = {"numResults": num} if num is not None else None
    answer = api.handler(event, types.SimpleNamespace(aws_request_id="req-1"))
    assert answer["headers"]["Content-Type"] == "application/json"
    return answer["statusCode"], json.loads(answer["body"])


def test_returns_the_campaigns_items(runtime):
    runtime.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "85123A", "score": 0.4}, {"itemId": "22423", "score": 0.2}], "recommendationId": "r1"},
        {"campaignArn": CAMPAIGN, "userId": "17850", "numResults": 2},
    )
    status, body = call("17850", "2")
    assert status == 200
    assert body == {
        "userId": "17850",
        "items": [{"itemId": "85123A", "score": 0.4}, {"itemId": "22423", "score": 0.2}],
        "recommendationId": "r1",
    }


def test_default_count(runtime):
    runtime.add_response(
        "get_recommendations",
        {"itemList": []},
        {"campaignArn": CAMPAIGN, "userId": "u1", "numResults": api.DEFAULT_RESULTS},
    )
    assert call("u1") == (200, {"userId": "u1", "items": [], "recommendationId": None})


@pytest.mark.parametrize(
    ("user_id", "num", "message"),
    [
        (None, None, "userId must be"),
        ("bad id!", None, "userId must be"),
        ("abc\n", None, "userId must be"),
        ("x" * 257, None, "userId must be"),
        ("u1", "0", "numResults must be an integer from 1 to 500"),
        ("u1", "501", "numResults must be an integer from 1 to 500"),
        ("u1", "ten", "numResults must be an integer from 1 to 500"),
        ("u1", "-3", "numResults must be an integer from 1 to 500"),
    ],
)
def test_bad_input_is_a_400_that_says_what(runtime, user_id, num, message):
    status, body = call(user_id, num)
    assert status == 400
    assert body["message"].startswith(message)


def test_internal_errors_are_not_exposed(runtime, caplog):
    runtime.add_client_error(
        "get_recommendations", "InvalidInputException", "campaign arn:aws:personalize:... secret detail", 400
    )
    status, body = call("u1", "5")
    assert status == 502
    assert body == {"message": "recommendations are unavailable right now", "requestId": "req-1"}
    assert "secret detail" in caplog.text


def test_no_campaign_yet_is_a_503(stack, monkeypatch):
    stack.client("ssm").delete_parameters(Names=[api.CAMPAIGN_PARAMETER])
    monkeypatch.setattr(api, "_campaign", {"arn": None, "read_at": 0.0})
    monkeypatch.setitem(common._clients, "ssm", stack.client("ssm"))
    status, body = call("u1", "5")
    assert (status, body["message"]) == (503, "recommendations are not available yet")
