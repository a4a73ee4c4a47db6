"""The execute-api endpoint on the local stack: raw HTTP requests to a deployed stage (unsigned,
addressed as `addressing` describes) turned into `DataPlane.handle` calls and back into HTTP."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import EnvironHeaders
from werkzeug.wsgi import get_input_stream

from localaws.apigateway.addressing import StageRequest, stage_request
from localaws.apigateway.models import Answer


def target_of(environ: dict[str, Any]) -> StageRequest | None:
    """The stage request `environ` addresses, if it is one (never a signed control-plane call)."""
    if "AWS4-HMAC-SHA256" in environ.get("HTTP_AUTHORIZATION", ""):
        return None
    return stage_request(environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""))


def find_api(api_id: str):
    """(account, region, moto RestAPI) holding `api_id`, among the API Gateway backends in use."""
    from moto.apigateway.models import apigateway_backends

    for account_id, regions in dict.items(apigateway_backends):
        for region, backend in dict.items(regions):
            if api_id in backend.apis:
                return account_id, region, backend.apis[api_id]
    return None


def answer(stack, environ: dict[str, Any], target: StageRequest) -> tuple[int, list[tuple[str, str]], bytes]:
    found = find_api(target.api_id)
    if found is None:  # no such API: what API Gateway answers an unknown host
        return (
            403,
            [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ForbiddenException")],
            (b'{"message":"Forbidden"}'),
        )
    account_id, region, api = found
    headers = EnvironHeaders(environ)
    multi: dict[str, list[str]] = defaultdict(list)
    for name, value in headers.items():
        multi[name].append(value)
    query: dict[str, list[str]] = defaultdict(list)
    for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
        query[name].append(value)
    request = {
        "method": environ["REQUEST_METHOD"],
        "headers": {k.lower(): v for k, v in headers.items()},
        "header_names": dict(headers.items()),
        "multi_headers": dict(multi),
        "query": dict(query),
        "body": get_input_stream(environ).read(),
        "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "source_ip": environ.get("REMOTE_ADDR", "127.0.0.1"),
    }
    result: Answer = stack.backend("apigateway-data", account_id, region).handle(api, target, request)
    pairs = [(k, v) for k, v in result.headers.items() if k.lower() not in {m.lower() for m in result.multi_headers}]
    for name, values in result.multi_headers.items():
        pairs += [(name, v) for v in values]
    return result.status, pairs, result.body
