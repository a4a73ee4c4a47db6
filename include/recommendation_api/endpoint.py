"""The A/B-tested model's side of the API: recommendations from the SageMaker endpoint, the
impressions and conversions the A/B test decides on.

`GET /model/recommendations/{userId}?numResults=N&country=C` invokes the endpoint; SageMaker picks
the production variant by weight and names it (`InvokedProductionVariant`). The answer carries it
(`variant`) and a `recommendationId`. The impression is recorded twice, for two readers: the
recommendation (id, endpoint, variant, items, expiry - no user id) in the impressions table, which the
conversion path checks against, and `Impressions` = 1 in the conversion namespace with the
dimensions the A/B sensor queries (`EndpointName`, `VariantName`; contract in
`mlops.hooks.ab_tests`).

`POST /conversions` with `{"recommendationId", "itemId"}` records that the customer bought an item
of that recommendation: `Conversions` = 1 for the variant that served it. A session converts at most
once, so the recommendation id is the idempotency key - a retry (or a second recommended item in the
same basket) is answered 200 and counted nothing. Unknown ids (404), items that were not recommended
(422) and recommendations past the conversion window (410) are refused with a message.

Only this function's role may write the conversion namespace (infra/personalize.yaml); the model's
own role may not, so a challenger's code cannot report conversions for itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid

from botocore.exceptions import BotoCoreError, ClientError

from .common import client, response

LOG = logging.getLogger()

ENDPOINT_NAME = os.environ.get("ENDPOINT_NAME", "mlops-recommender-dev")
CONVERSION_NAMESPACE = os.environ.get("CONVERSION_NAMESPACE", "MLOps/Recommendations")
IMPRESSIONS_TABLE = os.environ.get("IMPRESSIONS_TABLE", "mlops-recommendation-impressions-dev")
# How long after the recommendation a purchase still counts for it (the A/B test's session window).
CONVERSION_WINDOW_S = int(float(os.environ.get("CONVERSION_WINDOW_HOURS", "24")) * 3600)
DEFAULT_RESULTS = int(os.environ.get("DEFAULT_NUM_RESULTS", "25"))
MAX_RESULTS = 500  # the model server's own limit (include/training/inference.py)
MAX_BODY_BYTES = 4096

USER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,256}")
ITEM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,256}")
COUNTRY = re.compile(r"[A-Za-z][A-Za-z .'()&-]{0,63}")
RECOMMENDATION_ID = re.compile(r"[0-9a-f]{32}")


class BadRequest(ValueError):
    """A client error: answered with its status and message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def _count(metric: str, endpoint: str, variant: str) -> None:
    client("cloudwatch").put_metric_data(
        Namespace=CONVERSION_NAMESPACE,
        MetricData=[
            {"MetricName": metric, "Dimensions": _dimensions(endpoint, variant), "Value": 1.0, "Unit": "Count"}
        ],
    )


# --- GET /model/recommendations/{userId} -------------------------------------------------------
def parse_recommendation_request(event: dict) -> tuple[str, int, str | None]:
    """(user id, result count, country or None), or BadRequest naming the parameter."""
    user_id = (event.get("pathParameters") or {}).get("userId")
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        raise BadRequest("userId must be 1 to 256 characters of letters, digits, '_', '.', ':' or '-'")
    query = event.get("queryStringParameters") or {}
    raw = query.get("numResults")
    count = DEFAULT_RESULTS
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_RESULTS:
            raise BadRequest(f"numResults must be an integer from 1 to {MAX_RESULTS}")
        count = int(raw)
    country = query.get("country")
    if country is not None and not COUNTRY.fullmatch(country):
        raise BadRequest("country must be a country name: 1 to 64 letters, spaces or .'()&-, starting with a letter")
    return user_id, count, country


def recommend(event: dict, request_id: str | None) -> dict:
    try:
        user_id, count, country = parse_recommendation_request(event)
    except BadRequest as bad:
        return response(bad.status, {"message": str(bad)})
    body = {"user_id": user_id, "num_results": count, "context": {"country": country} if country else {}}
    try:
        answer = client("sagemaker-runtime").invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="application/json", Accept="application/json", Body=json.dumps(body)
        )
        variant = answer["InvokedProductionVariant"]
        items = [str(i) for i in json.loads(answer["Body"].read())["items"]]
    except ClientError as err:
        LOG.error("InvokeEndpoint %s failed for request %s: %s", ENDPOINT_NAME, request_id, err)
        # no endpoint (yet), or one still being created: nothing to serve, not a fault of the API
        unavailable = ("not found", "not in service")
        if err.response["Error"]["Code"] == "ValidationError" and any(u in str(err) for u in unavailable):
            return response(503, {"message": "recommendations are not available yet", "requestId": request_id})
        return response(502, {"message": "model unavailable", "requestId": request_id})
    except (BotoCoreError, ValueError, KeyError):
        LOG.exception("InvokeEndpoint %s failed for request %s", ENDPOINT_NAME, request_id)
        return response(502, {"message": "model unavailable", "requestId": request_id})

    recommendation_id = uuid.uuid4().hex
    now = int(time.time())
    try:
        client("dynamodb").put_item(
            TableName=IMPRESSIONS_TABLE,
            Item={
                "recommendation_id": {"S": recommendation_id},
                "endpoint_name": {"S": ENDPOINT_NAME},
                "variant": {"S": variant},
                "items": {"L": [{"S": i} for i in items]},
                "created_at": {"N": str(now)},
                "expires_at": {"N": str(now + CONVERSION_WINDOW_S)},
            },
        )
        _count("Impressions", ENDPOINT_NAME, variant)
    except (ClientError, BotoCoreError):
        # Unrecorded, the recommendation is not shown: a later conversion could not be attributed.
        LOG.exception("recording impression %s failed for request %s", recommendation_id, request_id)
        _forget(recommendation_id)
        return response(502, {"message": "recommendations are unavailable right now", "requestId": request_id})
    return response(
        200,
        {
            "userId": user_id,
            "items": [{"itemId": i} for i in items],
            "recommendationId": recommendation_id,
            "variant": variant,
        },
    )


def _forget(recommendation_id: str) -> None:
    try:
        client("dynamodb").delete_item(TableName=IMPRESSIONS_TABLE, Key={"recommendation_id": {"S": recommendation_id}})
    except (ClientError, BotoCoreError):
        LOG.exception("could not delete unrecorded impression %s", recommendation_id)


# --- POST /conversions -------------------------------------------------------------------------
def parse_conversion(event: dict) -> tuple[str, str]:
    """(recommendation id, item id) from the JSON body, or BadRequest saying what is wrong."""
    raw = event.get("body")
    if event.get("isBase64Encoded"):
        raise BadRequest("send the body as application/json text")
    if not raw or len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the body must be a JSON object of at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise BadRequest(f"the body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object {"recommendationId": ..., "itemId": ...}')
    unknown = sorted(set(body) - {"recommendationId", "itemId"})
    if unknown:
        raise BadRequest(f"unknown fields {unknown}: the body has recommendationId and itemId only")
    recommendation_id, item_id = body.get("recommendationId"), body.get("itemId")
    if not isinstance(recommendation_id, str) or not RECOMMENDATION_ID.fullmatch(recommendation_id):
        raise BadRequest("recommendationId must be the 32 hex characters a recommendation answer carries")
    if not isinstance(item_id, str) or not ITEM_ID.fullmatch(item_id):
        raise BadRequest("itemId must be 1 to 256 characters of letters, digits, '_', '.', ':' or '-'")
    return recommendation_id, item_id


def convert(event: dict, request_id: str | None) -> dict:
    recommendation_id = None
    try:
        recommendation_id, item_id = parse_conversion(event)
        mark = _mark_converted(recommendation_id, item_id)
    except BadRequest as bad:
        return response(bad.status, {"message": str(bad)})
    except (ClientError, BotoCoreError):
        LOG.exception("conversion of %s failed for request %s", recommendation_id, request_id)
        return response(502, {"message": "conversions cannot be recorded right now", "requestId": request_id})
    answer = {"recommendationId": recommendation_id, "itemId": item_id, "variant": mark["variant"]}
    if "mark" not in mark:
        return response(200, {**answer, "counted": False, "message": mark["message"]})
    try:
        _count("Conversions", mark["endpoint"], mark["variant"])
    except (ClientError, BotoCoreError):
        LOG.exception("Conversions metric of %s failed for request %s", recommendation_id, request_id)
        _unmark(recommendation_id, mark["mark"])  # so that the client's retry counts it
        return response(502, {"message": "conversions cannot be recorded right now", "requestId": request_id})
    return response(200, {**answer, "counted": True})


def _mark_converted(recommendation_id: str, item_id: str) -> dict[str, str]:
    """Mark the recommendation converted, once. Returns endpoint, variant and the mark when this call
    did; variant and a message (no mark) when it was converted before; BadRequest when it cannot be."""
    table, key = client("dynamodb"), {"recommendation_id": {"S": recommendation_id}}
    now = time.time()
    mark = f"{now:.6f}"
    try:
        item = table.update_item(
            TableName=IMPRESSIONS_TABLE,
            Key=key,
            UpdateExpression="SET converted_item = :item, converted_at = :mark",
            ConditionExpression=(
                "attribute_exists(recommendation_id) AND attribute_not_exists(converted_at) "
                "AND contains(#items, :item) AND expires_at > :now"
            ),
            ExpressionAttributeNames={"#items": "items"},
            ExpressionAttributeValues={":item": {"S": item_id}, ":mark": {"S": mark}, ":now": {"N": str(int(now))}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return {"endpoint": item["endpoint_name"]["S"], "variant": item["variant"]["S"], "mark": mark}
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    # Why not: read the recommendation and say.
    stored = table.get_item(TableName=IMPRESSIONS_TABLE, Key=key, ConsistentRead=True).get("Item")
    if stored is None:
        raise BadRequest(f"recommendationId {recommendation_id} is unknown", 404)
    if "converted_at" in stored:
        retry = stored["converted_item"]["S"] == item_id
        message = "already recorded (a retry)" if retry else "already converted: a session counts once"
        return {"variant": stored["variant"]["S"], "message": message}
    if int(stored["expires_at"]["N"]) <= int(now):
        raise BadRequest(
            f"recommendation {recommendation_id} is older than the conversion window "
            f"({CONVERSION_WINDOW_S // 3600} h): its purchases no longer count",
            410,
        )
    raise BadRequest(f"item {item_id} was not among the items of recommendation {recommendation_id}", 422)


def _unmark(recommendation_id: str, mark: str) -> None:
    try:
        client("dynamodb").update_item(
            TableName=IMPRESSIONS_TABLE,
            Key={"recommendation_id": {"S": recommendation_id}},
            UpdateExpression="REMOVE converted_at, converted_item",
            ConditionExpression="converted_at = :mark",
            ExpressionAttributeValues={":mark": {"S": mark}},
        )
    except (ClientError, BotoCoreError):
        LOG.exception("could not undo the conversion mark of %s", recommendation_id)
