"""The REST API data plane: a request to a deployed stage handled as API Gateway does.

moto keeps the APIs (resources, methods, integrations, validators, stages, keys, usage plans -
`localaws.cloudformation.patches.apigateway` creates the template's); this backend serves them, in
API Gateway's order:

1. the stage must exist (else 403 `Forbidden`), the path and method must match a resource - literal
   parts before `{param}` before `{proxy+}`, the method before `ANY` (else 403 `Missing
   Authentication Token`, as API Gateway answers an unknown route);
2. a method with `apiKeyRequired` needs `x-api-key` naming an enabled key that a usage plan bound to
   this API and stage holds (else 403 `Forbidden`);
3. throttling: the stage's method settings (`*/*` or the method's own) as a token bucket shared by
   all callers, then the key's usage plan (the plan's throttle, or its per-method throttle for this
   stage) per key - 429 `Too Many Requests`; then the plan's quota per key per DAY/WEEK/MONTH
   (UTC, weeks from Monday) - 429 `Limit Exceeded`;
4. the method's request validator: required path/query string/header parameters present and not
   blank (else 400 `Missing required request parameters: [a, b]`);
5. the integration: AWS_PROXY to Lambda (the function's resource policy must let
   `apigateway.amazonaws.com` invoke it from this method's execute-api ARN, else 500; the proxy
   event of payload format 1.0; the function's `{statusCode, headers, multiValueHeaders, body,
   isBase64Encoded}` mapped back, anything else 502; past the integration timeout, 29 s by default,
   504) or MOCK (the request template's statusCode picks the integration response, whose header
   mappings and template are returned, which is how a CORS preflight is answered).

Errors are API Gateway's gateway responses: their default status and `{"message": ...}` body, with
the API's GatewayResponse customisations (status, `gatewayresponse.header.*` values) applied. Every
request publishes `Count`, `4XXError`, `5XXError`, `Latency` and `IntegrationLatency` (namespace
`AWS/ApiGateway`, dimensions ApiName and Stage), which the template's alarms read.

What is not emulated: deployment snapshots (a stage serves the API's current methods, not those of
its deployment), authorizers, body validation against models, and HTTP/AWS (non-proxy)
integrations - each answers 500 naming what is missing rather than passing.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localaws.apigateway.addressing import StageRequest
from localaws.backends import AccountBackend
from localaws.wire import AwsError

DEFAULT_INTEGRATION_TIMEOUT_MS = 29_000
_LAMBDA_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(?P<function>.+)/invocations$")
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}

# Gateway response type -> (default status, message, x-amzn-ErrorType)
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "ACCESS_DENIED": (403, "Forbidden", "ForbiddenException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded", "LimitExceededException"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters: [{}]", "BadRequestException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "INTEGRATION_FAILURE": (504, "Internal server error", "InternalServerErrorException"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error", "InternalServerErrorException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    multi_headers: dict[str, list[str]] = field(default_factory=dict)


class GatewayError(Exception):
    def __init__(self, response_type: str, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        default_status, message, self.error_type = GATEWAY_RESPONSES[response_type]
        self.status = status or default_status
        self.message = message.format(detail) if detail is not None and "{}" in message else message


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


def quota_window(period: str, now: datetime) -> str:
    """The UTC period a request counts in (the quota resets at its start)."""
    if period == "DAY":
        return f"{now:%Y-%m-%d}"
    if period == "WEEK":
        return f"{(now - timedelta(days=now.weekday())):%Y-%m-%d}"
    return f"{now:%Y-%m}"


def _arn_like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def lambda_permits(statements: list[dict[str, Any]], source_arn: str, account_id: str) -> bool:
    """Whether the function's resource policy lets API Gateway invoke it from `source_arn`."""
    allowed = False
    for statement in statements:
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        services = services if isinstance(services, list) else [services]
        if not {"apigateway.amazonaws.com", "*"} & set(services):
            continue
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
            continue
        condition = statement.get("Condition") or {}
        matches = True
        for operator, pairs in condition.items():
            for key, expected in pairs.items():
                expected = expected if isinstance(expected, list) else [expected]
                if key.lower() == "aws:sourcearn":
                    if operator in ("ArnLike", "StringLike"):
                        matches &= any(_arn_like(e, source_arn) for e in expected)
                    elif operator in ("ArnEquals", "StringEquals"):
                        matches &= source_arn in expected
                elif key.lower() == "aws:sourceaccount":
                    matches &= account_id in expected
        if not matches:
            continue
        if statement.get("Effect", "Allow") == "Deny":
            return False
        allowed = True
    return allowed


class DataPlane(AccountBackend):
    """Throttle buckets and quota counters of one (account, region)'s APIs, and the request pipeline."""

    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.buckets: dict[tuple, TokenBucket] = {}
        self.quota_used: dict[tuple[str, str, str], int] = {}
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="apigw-integration")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- moto's state ------------------------------------------------------------------------
    def _moto(self):
        from moto.apigateway.models import apigateway_backends

        return apigateway_backends[self.account_id][self.region]

    def _bucket(self, key: tuple, rate: float, burst: int) -> TokenBucket:
        with self._lock:
            bucket = self.buckets.get(key)
            if bucket is None or (bucket.rate, bucket.burst) != (float(rate), int(burst)):
                bucket = self.buckets[key] = TokenBucket(rate, burst)
            return bucket

    # --- the pipeline ------------------------------------------------------------------------
    def handle(self, api, target: StageRequest, request: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        integration_ms = 0.0
        try:
            stage = api.stages.get(target.stage)
            if stage is None:
                raise GatewayError("ACCESS_DENIED")
            resource, method, path_params = self._route(api, request["method"], target.path)
            key = self._api_key(api, target.stage, method, request) if method.api_key_required else None
            self._throttle(api, stage, resource, method, key)
            self._validate(api, method, request, path_params)
            integration_started = time.perf_counter()
            answer = self._integrate(api, target, stage, resource, method, path_params, key, request, request_id)
            integration_ms = (time.perf_counter() - integration_started) * 1000
        except GatewayError as err:
            answer = self._gateway_response(api, err)
        answer.headers.setdefault("Content-Type", "application/json")
        answer.headers["x-amzn-RequestId"] = request_id
        answer.headers["x-amz-apigw-id"] = base64.b64encode(uuid.uuid4().bytes)[:16].decode()
        self._publish(api.name, target.stage, answer.status, (time.perf_counter() - started) * 1000, integration_ms)
        return answer

    def _route(self, api, http_method: str, path: str):
        """The resource and method for `path` (API Gateway's precedence), with the path parameters."""
        segments = [s for s in path.split("/") if s]
        best = None
        for resource in api.resources.values():
            template = [s for s in resource.get_path().split("/") if s]
            params = _match(template, segments)
            if params is None:
                continue
            rank = tuple(0 if not t.startswith("{") else 2 if t.endswith("+}") else 1 for t in template)
            if best is None or rank < best[0]:
                best = (rank, resource, params)
        if best is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        _, resource, params = best
        method = resource.resource_methods.get(http_method) or resource.resource_methods.get("ANY")
        if method is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        return resource, method, params

    def _api_key(self, api, stage_name: str, method, request: dict[str, Any]):
        backend = self._moto()
        value = request["headers"].get("x-api-key")
        if not value:
            raise GatewayError("INVALID_API_KEY")
        key = next((k for k in backend.keys.values() if k.value == value), None)
        if key is None or not key.enabled:
            raise GatewayError("INVALID_API_KEY")
        for plan in backend.usage_plans.values():
            bound = any(s.get("apiId") == api.id and s.get("stage") == stage_name for s in plan.api_stages)
            if bound and key.id in backend.usage_plan_keys.get(plan.id, {}):
                return key, plan
        raise GatewayError("INVALID_API_KEY")

    def _throttle(self, api, stage, resource, method, key) -> None:
        settings = stage.method_settings or {}
        own = settings.get(f"{resource.get_path().removeprefix('/').replace('/', '~1')}/{method.http_method}")
        chosen = own if own and "throttlingRateLimit" in own else settings.get("*/*")
        if chosen and "throttlingRateLimit" in chosen:
            scope = (api.id, stage.name, "own" if chosen is own else "*/*")
            bucket = self._bucket(scope, chosen["throttlingRateLimit"], chosen.get("throttlingBurstLimit", 0))
            if not bucket.take():
                raise GatewayError("THROTTLED")
        if key is None:
            return
        api_key, plan = key
        throttle = plan.throttle or {}
        for api_stage in plan.api_stages:
            if api_stage.get("apiId") == api.id and api_stage.get("stage") == stage.name:
                per_method = (api_stage.get("throttle") or {}).get(f"{resource.get_path()}/{method.http_method}")
                throttle = per_method or throttle
        if "rateLimit" in throttle:
            bucket = self._bucket(
                (plan.id, api_key.id, id(throttle)), throttle["rateLimit"], throttle.get("burstLimit", 0)
            )
            if not bucket.take():
                raise GatewayError("THROTTLED")
        quota = plan.quota or {}
        if "limit" in quota:
            window = quota_window(quota.get("period", "DAY"), datetime.now(UTC))
            counter = (plan.id, api_key.id, window)
            with self._lock:
                used = self.quota_used.get(counter, 0)
                first_window = not any(k[:2] == counter[:2] and k != counter for k in self.quota_used)
                limit = int(quota["limit"]) - (int(quota.get("offset", 0)) if first_window else 0)
                if used >= limit:
                    raise GatewayError("QUOTA_EXCEEDED")
                self.quota_used[counter] = used + 1

    @staticmethod
    def _validate(api, method, request: dict[str, Any], path_params: dict[str, str]) -> None:
        if not method.request_validator_id:
            return
        validator = api.request_validators.get(method.request_validator_id)
        if validator is None or not validator.validate_request_parameters:
            return
        missing = []
        for name, required in (method.request_parameters or {}).items():
            if not required:
                continue
            _, _, where, param = name.split(".", 3)
            if where == "path":
                value = path_params.get(param)
            elif where in ("querystring", "multivaluequerystring"):
                value = request["query"].get(param, [""])[-1] if param in request["query"] else None
            else:
                value = request["headers"].get(param.lower())
            if value is None or not str(value).strip():
                missing.append(param)
        if missing:
            raise GatewayError("BAD_REQUEST_PARAMETERS", detail=", ".join(missing))

    # --- integrations ------------------------------------------------------------------------
    def _integrate(self, api, target, stage, resource, method, path_params, key, request, request_id) -> Answer:
        integration = method.method_integration
        if integration is None:
            raise GatewayError("API_CONFIGURATION_ERROR")
        if integration.integration_type == "MOCK":
            return self._mock(integration, request)
        match = _LAMBDA_URI.match(integration.uri or "")
        if integration.integration_type != "AWS_PROXY" or match is None:
            raise GatewayError("API_CONFIGURATION_ERROR")  # not emulated: see the module's docstring
        function_arn = match["function"]
        functions = self.stack.backend("lambda", self.account_id, self.region)
        try:
            fn = functions.function(function_arn)
        except AwsError as err:
            raise GatewayError("API_CONFIGURATION_ERROR") from err
        resource_path = resource.get_path()
        source_arn = (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{api.id}/{stage.name}/{method.http_method}"
            f"{resource_path if resource_path != '/' else '/'}"
        )
        if not lambda_permits(fn.policy.statements, source_arn, self.account_id):
            # "Execution failed due to configuration error: Invalid permissions on Lambda function"
            raise GatewayError("API_CONFIGURATION_ERROR")
        event = proxy_event(api, target, stage, resource, method, path_params, key, request, request_id, self)
        timeout_ms = int(integration.timeout_in_millis or DEFAULT_INTEGRATION_TIMEOUT_MS)
        future = self._pool.submit(functions.invoke, function_arn, json.dumps(event).encode())
        try:
            invocation = future.result(timeout=timeout_ms / 1000)
        except FutureTimeout as err:
            raise GatewayError("INTEGRATION_TIMEOUT") from err
        except AwsError as err:  # throttled, or the function cannot run (its runtime, its code)
            raise GatewayError("API_CONFIGURATION_ERROR") from err
        if invocation.function_error:
            raise GatewayError("DEFAULT_5XX")
        return proxy_answer(invocation.payload)

    @staticmethod
    def _mock(integration, request: dict[str, Any]) -> Answer:
        templates = integration.request_templates or {}
        template = templates.get("application/json") or next(iter(templates.values()), "")
        try:
            status = str(json.loads(template or "{}").get("statusCode", 200))
        except (ValueError, AttributeError) as err:
            raise GatewayError("API_CONFIGURATION_ERROR") from err
        responses = integration.integration_responses or {}
        response = responses.get(status) or next(
            (r for r in responses.values() if not getattr(r, "selection_pattern", None)), None
        )
        if response is None:
            raise GatewayError("API_CONFIGURATION_ERROR")
        headers = {}
        for name, value in (response.response_parameters or {}).items():
            if name.startswith("method.response.header.") and value.startswith("'") and value.endswith("'"):
                headers[name.removeprefix("method.response.header.")] = value[1:-1]
        body_templates = response.response_templates or {}
        body = (body_templates.get("application/json") or "").encode()
        return Answer(int(response.status_code), headers, body)

    def _gateway_response(self, api, err: GatewayError) -> Answer:
        status, headers = err.status, {"x-amzn-ErrorType": err.error_type}
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        for response_type in (family, err.response_type):  # the specific type wins over its family
            custom = api.gateway_responses.get(response_type)
            if custom is None:
                continue
            if custom.status_code and response_type == err.response_type:
                status = int(custom.status_code)
            for name, value in (custom.response_parameters or {}).items():
                if name.startswith("gatewayresponse.header.") and value.startswith("'") and value.endswith("'"):
                    headers[name.removeprefix("gatewayresponse.header.")] = value[1:-1]
        return Answer(status, headers, json.dumps({"message": err.message}).encode())

    def _publish(self, api_name: str, stage: str, status: int, latency_ms: float, integration_ms: float) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.utils import utcnow

        dims = [{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": stage}]
        now = utcnow()
        values = {
            "Count": (1.0, "Count"),
            "4XXError": (float(400 <= status < 500), "Count"),
            "5XXError": (float(status >= 500), "Count"),
            "Latency": (latency_ms, "Milliseconds"),
            "IntegrationLatency": (integration_ms, "Milliseconds"),
        }
        data = [
            {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit, "Timestamp": now}
            for name, (value, unit) in values.items()
        ]
        cloudwatch_backends[self.account_id][self.region].put_metric_data("AWS/ApiGateway", data)


def _match(template: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            if i >= len(segments):
                return None
            params[part[1:-2]] = "/".join(segments[i:])
            return params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(template) == len(segments) else None


def proxy_event(api, target, stage, resource, method, path_params, key, request, request_id, plane) -> dict[str, Any]:
    """The Lambda proxy integration's input, payload format 1.0."""
    headers: dict[str, str] = request["header_names"]
    multi_headers: dict[str, list[str]] = request["multi_headers"]
    query: dict[str, list[str]] = request["query"]
    now = datetime.now(UTC)
    api_key, _ = key if key is not None else (None, None)
    body: bytes = request["body"]
    try:
        text, is_base64 = (body.decode("utf-8") if body else None), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    return {
        "resource": resource.get_path(),
        "path": target.path,
        "httpMethod": request["method"],
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_params or None,
        "stageVariables": stage.variables or None,
        "requestContext": {
            "resourceId": resource.id,
            "resourcePath": resource.get_path(),
            "httpMethod": request["method"],
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes)[:16].decode(),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage.name}{target.path}",
            "accountId": plane.account_id,
            "protocol": request["protocol"],
            "stage": stage.name,
            "domainPrefix": api.id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request["source_ip"],
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": headers.get("User-Agent"),
                "user": None,
                "apiKey": api_key.value if api_key is not None else None,
                "apiKeyId": api_key.id if api_key is not None else None,
            },
            "domainName": f"{api.id}.execute-api.{plane.region}.amazonaws.com",
            "apiId": api.id,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def proxy_answer(payload: bytes) -> Answer:
    """The function's proxy response as the client's HTTP response; malformed -> 502 (API Gateway's
    "Malformed Lambda proxy response")."""
    try:
        result = json.loads(payload)
    except ValueError as err:
        raise GatewayError("DEFAULT_5XX") from err
    if not isinstance(result, dict) or set(result) - _PROXY_RESPONSE_KEYS:
        raise GatewayError("DEFAULT_5XX")
    status = result.get("statusCode", 200)
    headers = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    body = result.get("body")
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not 100 <= status <= 599
        or not isinstance(headers, dict)
        or not isinstance(multi, dict)
        or not all(isinstance(v, list) for v in multi.values())
        or (body is not None and not isinstance(body, str))
        or not isinstance(result.get("isBase64Encoded", False), bool)
    ):
        raise GatewayError("DEFAULT_5XX")
    if result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body or "", validate=True)
        except ValueError as err:
            raise GatewayError("DEFAULT_5XX") from err
    else:
        data = (body or "").encode("utf-8")
    multi_headers = {str(k): [str(x) for x in v] for k, v in multi.items()}
    return Answer(status, {str(k): str(v) for k, v in headers.items()}, data, multi_headers)
