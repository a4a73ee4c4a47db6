"""The recommendation API behind API Gateway, one Lambda function routing on the API's resource:

- `GET /recommendations/{userId}?numResults=N`: the Personalize campaign's items for a user (here);
- `GET /model/recommendations/{userId}` and `POST /conversions`: the A/B-tested SageMaker endpoint's
  recommendations and the purchases they led to (`endpoint.py`).

For the campaign route: Input is validated (400 with a message saying what is
wrong); internal failures are logged with their detail but answered with a generic 502/503 that
never exposes it. The campaign ARN is read from SSM (the Personalize DAG publishes it when a
campaign is created or replaced) and cached, so the function needs no redeploy per campaign.
Dependencies: boto3 only (present in the Lambda runtime).
"""

from __future__ import annotations

import logging
import os
import re
import time

from botocore.exceptions import BotoCoreError, ClientError

from . import endpoint
from .common import client as _client
from .common import response as _response

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

USER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,256}")  # fullmatch: "abc\n" is refused
MAX_RESULTS = 500
DEFAULT_RESULTS = int(os.environ.get("DEFAULT_NUM_RESULTS", "25"))
# The stack sets its environment's parameter (/<project>/<env>/personalize/campaign-arn).
CAMPAIGN_PARAMETER = os.environ.get("CAMPAIGN_ARN_PARAMETER", "/mlops/dev/personalize/campaign-arn")
CACHE_SECONDS = 300

_campaign: dict[str, object] = {"arn": None, "read_at": 0.0}


def _campaign_arn() -> str:
    if _campaign["arn"] is None or time.monotonic() - float(_campaign["read_at"]) > CACHE_SECONDS:
        parameter = _client("ssm").get_parameter(Name=CAMPAIGN_PARAMETER)["Parameter"]
        _campaign.update(arn=parameter["Value"], read_at=time.monotonic())
    return str(_campaign["arn"])


def parse_request(event: dict) -> tuple[str, int]:
    """The user id and result count, or ValueError with a message fit for the caller."""
    user_id = (event.get("pathParameters") or {}).get("userId")
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        raise ValueError("userId must be 1 to 256 characters of letters, digits, '_', '.', ':' or '-'")
    raw = (event.get("queryStringParameters") or {}).get("numResults")
    if raw is None:
        return user_id, DEFAULT_RESULTS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_RESULTS:
        raise ValueError(f"numResults must be an integer from 1 to {MAX_RESULTS}")
    return user_id, int(raw)


def handler(event: dict, context) -> dict:
    request_id = getattr(context, "aws_request_id", None)
    route = (event.get("httpMethod"), event.get("resource"))
    if route == ("GET", "/model/recommendations/{userId}"):
        return endpoint.recommend(event, request_id)
    if route == ("POST", "/conversions"):
        return endpoint.convert(event, request_id)
    return campaign_recommendations(event, request_id)


def campaign_recommendations(event: dict, request_id: str | None) -> dict:
    try:
        user_id, count = parse_request(event)
    except ValueError as bad:
        return _response(400, {"message": str(bad)})
    try:
        answer = _client("personalize-runtime").get_recommendations(
            campaignArn=_campaign_arn(), userId=user_id, numResults=count
        )
    except ClientError as err:
        code = err.response["Error"]["Code"]
        LOG.error("GetRecommendations failed for request %s: %s", request_id, err)
        if code in ("ParameterNotFound", "ResourceNotFoundException"):
            return _response(503, {"message": "recommendations are not available yet", "requestId": request_id})
        return _response(502, {"message": "recommendations are unavailable right now", "requestId": request_id})
    except BotoCoreError:
        LOG.exception("GetRecommendations failed for request %s", request_id)
        return _response(502, {"message": "recommendations are unavailable right now", "requestId": request_id})
    items = [{"itemId": i["itemId"], "score": i.get("score")} for i in answer.get("itemList", [])]
    return _response(200, {"userId": user_id, "items": items, "recommendationId": answer.get("recommendationId")})
