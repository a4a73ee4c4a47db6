"""What every route of the recommendation API shares: cached boto3 clients and the JSON answer."""

from __future__ import annotations

import json
import os

import boto3
from botocore.config import Config

# The browser origin allowed to read answers (CORS): with the proxy integration the function's own
# headers are the response's, so it must send it; the API's OPTIONS method answers the preflight.
ALLOWED_ORIGIN = os.environ.get("ALLOWED_ORIGIN", "")
# Short timeouts and few retries: the API answers within its 10 s Lambda timeout or says it cannot.
# The model is not retried: a slow variant would take two timeouts, and the shop retries anyway.
_CONFIG = Config(connect_timeout=2, read_timeout=8, retries={"mode": "standard", "max_attempts": 2})
_NO_RETRY = {"sagemaker-runtime"}

_clients: dict[str, object] = {}


def client(service: str):
    """One client per service and execution environment (keep-alive connections across invocations)."""
    if service not in _clients:
        config = _CONFIG
        if service in _NO_RETRY:
            config = _CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1}))
        _clients[service] = boto3.client(service, config=config)
    return _clients[service]


def response(status: int, body: dict) -> dict:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if ALLOWED_ORIGIN:
        headers["Access-Control-Allow-Origin"] = ALLOWED_ORIGIN
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}
