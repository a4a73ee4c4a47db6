"""The recommendation API as clients call it: API Gateway's REST data plane on the local stack, in
front of Lambda functions running in their own processes with their roles.

Two kinds of API: `infra/personalize.yaml` deployed as CloudFormation (names prefixed `apitest`, so
the session's platform stacks are untouched), and small APIs built through the API Gateway API in
front of an echo function, for what the template does not exercise (the event's shape, malformed
answers, timeouts, `{proxy+}`, validators on query strings and headers, quotas).
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localaws.apigateway import local_invoke_url
from localaws.apigateway.addressing import StageRequest, stage_request
from mlops.lambda_package import upload_package

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"

ECHO = """
import json, os, time

def handler(event, context):
    q = event.get("queryStringParameters") or {}
    if q.get("shape") == "bad":
        return {"statusCode": "200", "body": {"not": "a string"}}
    if "sleep" in q:
        time.sleep(float(q["sleep"]))
    if q.get("fail"):
        raise RuntimeError("the function failed on purpose")
    if q.get("hog"):
        hog = b"x" * (200 * 1024 * 1024)  # written, so resident: past a 128 MB function's memory
        del hog
    print("echo", context.aws_request_id, context.function_name)
    env = {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "GREETING", "AWS_ACCESS_KEY_ID", "_HANDLER")}
    body = {"event": event, "env": env, "remaining_ms": context.get_remaining_time_in_millis()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Echo": "1"}, "body": json.dumps(body)}
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _lambda_role(stack, name: str) -> str:
    iam = stack.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # What AWSLambdaBasicExecutionRole grants: without it a function's logs go nowhere, as on AWS.
    logs = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="basic-execution", PolicyDocument=json.dumps(logs))
    return arn


def _function(stack, name: str, code: str = ECHO, timeout: int = 10, runtime: str = "python3.11", **extra) -> str:
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="apitest-code") if "apitest-code" not in [
        b["Name"] for b in s3.list_buckets()["Buckets"]
    ] else None
    s3.put_object(Bucket="apitest-code", Key=f"{name}.zip", Body=_zip({"echo/app.py": code}))
    return stack.client("lambda").create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=_lambda_role(stack, f"{name}-role"),
        Handler="echo/app.handler",
        Code={"S3Bucket": "apitest-code", "S3Key": f"{name}.zip"},
        Timeout=timeout,
        MemorySize=128,
        Environment={"Variables": {"GREETING": "hello"}},
        **extra,
    )["FunctionArn"]


def _echo_api(stack, function_arn: str, *, permit: bool = True, key_required: bool = False, **options) -> dict:
    """A REST API `/{proxy+}` (ANY) and `/items/{id}` (GET) in front of `function_arn`, stage `test`."""
    api = stack.client("apigateway")
    rest = api.create_rest_api(name=f"echo-{uuid.uuid4().hex[:6]}")
    root = next(r["id"] for r in api.get_resources(restApiId=rest["id"])["items"] if r["path"] == "/")
    proxy = api.create_resource(restApiId=rest["id"], parentId=root, pathPart="{proxy+}")["id"]
    items = api.create_resource(restApiId=rest["id"], parentId=root, pathPart="items")["id"]
    item = api.create_resource(restApiId=rest["id"], parentId=items, pathPart="{id}")["id"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    validator = api.create_request_validator(restApiId=rest["id"], name="params", validateRequestParameters=True)
    for resource, verb, params in (
        (proxy, "ANY", {}),
        (item, "GET", options.get("parameters", {"method.request.path.id": True})),
    ):
        api.put_method(
            restApiId=rest["id"],
            resourceId=resource,
            httpMethod=verb,
            authorizationType="NONE",
            apiKeyRequired=key_required,
            requestParameters=params,
            requestValidatorId=validator["id"],
        )
        api.put_integration(
            restApiId=rest["id"],
            resourceId=resource,
            httpMethod=verb,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
            timeoutInMillis=options.get("timeout_ms", 29000),
        )
    api.create_deployment(restApiId=rest["id"], stageName="test")
    if permit:
        stack.client("lambda").add_permission(
            FunctionName=function_arn,
            StatementId=f"apigw-{rest['id']}",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{rest['id']}/*/*/*",
        )
    out = {"id": rest["id"], "url": f"https://{rest['id']}.execute-api.{REGION}.amazonaws.com/test"}
    if key_required:
        key = api.create_api_key(name=f"k-{rest['id']}", enabled=True)
        plan = api.create_usage_plan(
            name=f"p-{rest['id']}",
            apiStages=[{"apiId": rest["id"], "stage": "test"}],
            **{k: v for k, v in options.items() if k in ("throttle", "quota")},
        )
        api.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        out.update(key=key["value"], key_id=key["id"], plan=plan["id"])
    return out


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self):
        return json.loads(self.text)


def _http(
    url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None, cafile: str | None = None
) -> Reply:
    """A call over HTTPS trusting the local stack's CA (`cafile`), as a client given that CA would."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60, context=ssl.create_default_context(cafile=cafile)) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers), err.read().decode())


def _get(stack, api_url: str, path: str, key: str | None = None, **kwargs) -> Reply:
    """A client's call to the stage's URL (the template's `ApiUrl`), on the local stack."""
    headers = {**({"x-api-key": key} if key else {}), **kwargs.pop("headers", {})}
    return _http(local_invoke_url(stack.url, api_url) + path, headers=headers, cafile=stack.ca_bundle, **kwargs)


def _log_lines(stack, group: str) -> list[str]:
    logs = stack.client("logs")
    lines = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
        lines += [e["message"] for e in events["events"]]
    return lines


def test_the_local_addressing_of_a_stage():
    api_url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/recommendations"
    assert (
        local_invoke_url("http://127.0.0.1:4566", api_url)
        == "http://127.0.0.1:4566/restapis/a1b2c3d4e5/v1/_user_request_/recommendations"
    )
    assert stage_request("127.0.0.1:4566", "/restapis/a1b2c3d4e5/v1/_user_request_/recommendations/7") == StageRequest(
        "a1b2c3d4e5", "v1", "/recommendations/7"
    )
    assert stage_request("a1b2c3d4e5.execute-api.localhost:4566", "/v1/x") == StageRequest("a1b2c3d4e5", "v1", "/x")
    assert stage_request("127.0.0.1:4566", "/restapis/a1b2c3d4e5/stages/v1") is None  # the control plane
    with pytest.raises(ValueError, match="not an API Gateway invoke URL"):
        local_invoke_url("http://127.0.0.1:4566", "https://example.com/v1")


# --- the template's API --------------------------------------------------------------------------


def _deploy_personalize(stack, name: str, **parameters) -> dict[str, str]:
    s3, ssm, sns, cfn = (stack.client(s) for s in ("s3", "ssm", "sns", "cloudformation"))
    bucket = f"{name}-code"
    s3.create_bucket(Bucket=bucket)
    key = upload_package(s3, PROJECT_ROOT / "include" / "recommendation_api", bucket)
    topic = sns.create_topic(Name=f"{name}-alerts")["TopicArn"]
    ssm.put_parameter(Name=f"/{name}/BucketName", Value=bucket, Type="String", Overwrite=True)
    ssm.put_parameter(Name=f"/{name}/AlertTopicArn", Value=topic, Type="String", Overwrite=True)
    ssm.put_parameter(Name=f"/{name}/EndpointName", Value=f"{name}-endpoint", Type="String", Overwrite=True)
    ssm.put_parameter(Name=f"/{name}/ConversionNamespace", Value=f"{name}/Conversions", Type="String", Overwrite=True)
    values = {
        "ProjectName": name,
        "CodeKey": key,
        "CodeBucket": f"/{name}/BucketName",
        "AlertTopicArn": f"/{name}/AlertTopicArn",
        "CampaignArnParameter": f"/{name}/campaign-arn",
        "EndpointName": f"/{name}/EndpointName",
        "ConversionNamespace": f"/{name}/ConversionNamespace",
        **parameters,
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=(PROJECT_ROOT / "infra" / "personalize.yaml").read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    failures = [
        (e["LogicalResourceId"], e.get("ResourceStatusReason"))
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if e["ResourceStatus"].endswith("FAILED")
    ]
    assert described["StackStatus"] == "CREATE_COMPLETE", failures
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    outputs["ApiKey"] = stack.client("apigateway").get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    return outputs


@pytest.fixture(scope="module")
def recommendations(stack) -> dict[str, str]:
    return _deploy_personalize(stack, "apitest")


def test_every_api_gateway_resource_of_the_template_is_created(stack, recommendations):
    api = stack.client("apigateway")
    api_id = recommendations["ApiId"]
    stage = api.get_stage(restApiId=api_id, stageName="v1")
    assert stage["tracingEnabled"] is True
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 50
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 100
    key = api.get_api_key(apiKey=recommendations["ApiKeyId"], includeValue=True)
    assert key["enabled"] is True and len(key["value"]) >= 20
    (plan,) = api.get_usage_plans(keyId=key["id"])["items"]
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "v1"}]
    assert plan["throttle"] == {"burstLimit": 100, "rateLimit": 50.0}
    assert plan["quota"] == {"limit": 100000, "offset": 0, "period": "DAY"}
    assert [k["id"] for k in api.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    (validator,) = api.get_request_validators(restApiId=api_id)["items"]
    assert validator["validateRequestParameters"] is True
    resources = {r["path"]: r for r in api.get_resources(restApiId=api_id)["items"]}
    get = api.get_method(restApiId=api_id, resourceId=resources["/recommendations/{userId}"]["id"], httpMethod="GET")
    assert get["requestValidatorId"] == validator["id"]
    assert get["requestParameters"] == {
        "method.request.path.userId": True,
        "method.request.querystring.numResults": False,
    }
    # the A/B endpoint's route and the conversion path: key required, validated parameters
    model = resources["/model/recommendations/{userId}"]["id"]
    model_get = api.get_method(restApiId=api_id, resourceId=model, httpMethod="GET")
    assert model_get["apiKeyRequired"] is True and model_get["requestValidatorId"] == validator["id"]
    assert model_get["requestParameters"] == {
        "method.request.path.userId": True,
        "method.request.querystring.numResults": False,
        "method.request.querystring.country": False,
    }
    post = api.get_method(restApiId=api_id, resourceId=resources["/conversions"]["id"], httpMethod="POST")
    assert post["apiKeyRequired"] is True and post["methodIntegration"]["type"] == "AWS_PROXY"
    responses = {r["responseType"] for r in api.get_gateway_responses(restApiId=api_id)["items"]}
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= responses


def test_a_usage_plan_naming_a_stage_that_does_not_exist_fails_the_stack(stack):
    """What the template's `DependsOn: [Stage]` is for: API Gateway checks the stage exists."""
    cfn = stack.client("cloudformation")
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "no-stage"}},
            "Plan": {
                "Type": "AWS::ApiGateway::UsagePlan",
                "Properties": {"ApiStages": [{"ApiId": {"Ref": "Api"}, "Stage": "v1"}], "Quota": {"Limit": 5}},
            },
        }
    }
    cfn.create_stack(StackName="apitest-no-stage", TemplateBody=json.dumps(template))
    assert cfn.describe_stacks(StackName="apitest-no-stage")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName="apitest-no-stage")["StackEvents"]
    ]
    assert any("Invalid API Stage" in r and "stage: v1" in r for r in reasons), reasons

    bad_key = {"Resources": {"Key": {"Type": "AWS::ApiGateway::UsagePlanKey", "Properties": {"KeyId": "k"}}}}
    cfn.create_stack(StackName="apitest-bad-key", TemplateBody=json.dumps(bad_key))
    reasons = [
        e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="apitest-bad-key")["StackEvents"]
    ]
    assert any("'KeyType' is a required property" in r and "'UsagePlanId' is a required property" in r for r in reasons)


def test_the_key_is_required(stack, recommendations):
    url, key = recommendations["ApiUrl"], recommendations["ApiKey"]
    for headers in ({}, {"x-api-key": "not-a-key-of-this-api-0000"}):
        answer = _get(stack, url, "/12748", headers=headers)
        assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})
        assert answer.headers["x-amzn-ErrorType"] == "ForbiddenException"
    api = stack.client("apigateway")
    api.update_api_key(
        apiKey=recommendations["ApiKeyId"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )
    try:
        assert _get(stack, url, "/12748", key).status_code == 403
    finally:
        api.update_api_key(
            apiKey=recommendations["ApiKeyId"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}]
        )
    # with the key the request reaches the function: no campaign is published yet, and it says so
    answer = _get(stack, url, "/12748?numResults=5", key)
    assert answer.status_code == 503, answer.text
    assert answer.json()["message"] == "recommendations are not available yet"
    assert _get(stack, url, "/12748?numResults=0", key).json() == {
        "message": "numResults must be an integer from 1 to 500"
    }
    unknown = _get(stack, url.rsplit("/", 1)[0] + "/nothing-here", "", key)
    assert (unknown.status_code, unknown.json()) == (403, {"message": "Missing Authentication Token"})


def test_cors_reaches_browser_clients(stack, recommendations):
    url, key = recommendations["ApiUrl"], recommendations["ApiKey"]
    preflight = _get(
        stack,
        url,
        "/12748",
        method="OPTIONS",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Headers": "x-api-key"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Api-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    root = url.rsplit("/", 1)[0]
    for path, method in (("/model/recommendations/12748", "GET"), ("/conversions", "POST")):
        answer = _get(stack, root, path, method="OPTIONS", headers={"Origin": "https://shop.example.com"})
        assert answer.status_code == 200 and method in answer.headers["Access-Control-Allow-Methods"], path
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert _get(stack, url, "/12748", key).headers["Access-Control-Allow-Origin"] == "*"  # the function's answer
    assert _get(stack, url, "/12748").headers["Access-Control-Allow-Origin"] == "*"  # API Gateway's own 403


def test_the_usage_plan_throttles_and_the_function_logs_to_cloudwatch(stack):
    outputs = _deploy_personalize(stack, "apithrottle", ThrottleRateLimit=1, ThrottleBurstLimit=2)
    _get(stack, outputs["ApiUrl"], "/12748", outputs["ApiKey"])  # a cold start refills a token meanwhile
    time.sleep(2.1)  # the bucket full again: burst 2, then 1 per second
    statuses = [_get(stack, outputs["ApiUrl"], "/12748", outputs["ApiKey"]) for _ in range(3)]
    assert [s.status_code for s in statuses[:2]] == [503, 503]  # the function's answer: no campaign yet
    throttled = statuses[2]
    assert (throttled.status_code, throttled.json()) == (429, {"message": "Too Many Requests"})
    assert throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    time.sleep(1.1)  # one token back
    assert _get(stack, outputs["ApiUrl"], "/12748", outputs["ApiKey"]).status_code == 503

    lines = _log_lines(stack, f"/aws/lambda/{outputs['FunctionName']}")
    request_ids = [line.split()[2] for line in lines if line.startswith("START RequestId:")]
    assert len(request_ids) == 4  # the throttled call never reached the function
    for request_id in request_ids:
        assert f"END RequestId: {request_id}" in lines
        assert any(
            line.startswith(f"REPORT RequestId: {request_id}\tDuration:") and "Memory Size: 256 MB" in line
            for line in lines
        )
    assert any("[ERROR]" in line and "ParameterNotFound" in line for line in lines)  # the handler's own LOG.error


# --- APIs built through the API ----------------------------------------------------------------


@pytest.fixture(scope="module")
def echo(stack) -> str:
    return _function(stack, "apitest-echo")


def test_the_function_gets_the_proxy_event_with_its_role_and_answers_through_the_gateway(stack, echo):
    api = _echo_api(stack, echo, key_required=True)
    answer = _get(stack, api["url"], "/items/42?color=red&color=blue&size=9", api["key"], headers={"X-Trace": "t1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Echo"] == "1"
    event, env = answer.json()["event"], answer.json()["env"]
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/42" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"color": "blue", "size": "9"}
    assert event["multiValueQueryStringParameters"] == {"color": ["red", "blue"], "size": ["9"]}
    assert event["headers"]["X-Trace"] == "t1" and event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["stage"], context["apiId"], context["accountId"]) == ("test", api["id"], ACCOUNT)
    assert context["resourcePath"] == "/items/{id}" and context["path"] == "/test/items/42"
    assert context["identity"]["apiKey"] == api["key"] and context["identity"]["apiKeyId"] == api["key_id"]
    assert answer.headers["x-amzn-RequestId"] == context["requestId"]
    assert env["GREETING"] == "hello" and env["_HANDLER"] == "echo/app.handler"
    assert env["AWS_ACCESS_KEY_ID"] != "testing"  # the role's session, not the stack's credentials
    assert 0 < answer.json()["remaining_ms"] <= 10_000

    greedy = _get(stack, api["url"], "/a/b/c", api["key"], method="POST", data=b"payload")
    event = greedy.json()["event"]
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["httpMethod"] == "POST" and event["body"] == "payload"

    host_form = _http(
        f"{stack.url}/test/items/7",
        headers={"Host": f"{api['id']}.execute-api.localhost", "x-api-key": api["key"]},
        cafile=stack.ca_bundle,
    )
    assert host_form.json()["event"]["pathParameters"] == {"id": "7"}


def test_a_malformed_or_failed_function_answer_is_a_502(stack, echo):
    api = _echo_api(stack, echo)
    for query in ("?shape=bad", "?fail=1"):
        answer = _get(stack, api["url"], f"/items/1{query}")
        assert (answer.status_code, answer.json()) == (502, {"message": "Internal server error"})
    lines = _log_lines(stack, "/aws/lambda/apitest-echo")
    assert any("[ERROR] RuntimeError: the function failed on purpose" in line for line in lines)


def test_the_request_validator_refuses_missing_parameters(stack, echo):
    params = {
        "method.request.path.id": True,
        "method.request.querystring.q": True,
        "method.request.header.X-Tenant": True,
    }
    api = _echo_api(stack, echo, parameters=params)
    answer = _get(stack, api["url"], "/items/1")
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "Missing required request parameters: [q, X-Tenant]"},
    )
    assert (
        _get(stack, api["url"], "/items/1?q=", headers={"X-Tenant": "a"}).status_code == 400
    )  # blank counts as missing
    assert _get(stack, api["url"], "/items/1?q=x", headers={"X-Tenant": "a"}).status_code == 200


def test_the_usage_plan_quota_is_a_429_limit_exceeded(stack, echo):
    api = _echo_api(stack, echo, key_required=True, quota={"limit": 2, "period": "DAY"})
    assert [_get(stack, api["url"], "/items/1", api["key"]).status_code for _ in range(2)] == [200, 200]
    answer = _get(stack, api["url"], "/items/1", api["key"])
    assert (answer.status_code, answer.json()) == (429, {"message": "Limit Exceeded"})


def test_without_the_lambda_permission_the_call_fails_like_aws(stack, echo):
    api = _echo_api(stack, echo, permit=False)
    answer = _get(stack, api["url"], "/items/1")
    assert (answer.status_code, answer.json()) == (500, {"message": "Internal server error"})


def test_function_timeout_and_integration_timeout(stack):
    slow = _function(stack, "apitest-slow", timeout=1)
    api = _echo_api(stack, slow)
    answer = _get(stack, api["url"], "/items/1?sleep=3")
    assert (answer.status_code, answer.json()) == (502, {"message": "Internal server error"})
    assert any("Task timed out after 1.00 seconds" in line for line in _log_lines(stack, "/aws/lambda/apitest-slow"))

    patient = _function(stack, "apitest-patient", timeout=5)
    api = _echo_api(stack, patient, timeout_ms=1000)
    answer = _get(stack, api["url"], "/items/1?sleep=2")
    assert (answer.status_code, answer.json()) == (504, {"message": "Endpoint request timed out"})


def test_lambda_invoke_runs_the_same_code(stack, echo):
    client = stack.client("lambda")
    answer = client.invoke(FunctionName=echo, Payload=json.dumps({"queryStringParameters": {"a": "1"}}), LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.loads(json.loads(answer["Payload"].read())["body"])["event"]["queryStringParameters"] == {"a": "1"}
    assert "START RequestId:" in base64.b64decode(answer["LogResult"]).decode()
    failed = client.invoke(FunctionName=echo, Payload=json.dumps({"queryStringParameters": {"fail": "1"}}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "the function failed on purpose")


def test_memory_size_is_honoured(stack, echo):
    client = stack.client("lambda")
    answer = client.invoke(FunctionName=echo, Payload=json.dumps({"queryStringParameters": {"hog": "1"}}))
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled" and error["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in error["errorMessage"]
    assert client.invoke(FunctionName=echo, Payload=b"{}")["StatusCode"] == 200  # a fresh environment
    reports = [line for line in _log_lines(stack, "/aws/lambda/apitest-echo") if line.startswith("REPORT")]
    assert any("Memory Size: 128 MB" in line and int(line.rsplit(" ", 2)[-2]) > 128 for line in reports)


def test_a_runtime_that_cannot_run_the_code_is_refused(stack):
    newer = ECHO + "\n\ndef kind(x):\n    match x:\n        case _:\n            return 1\n"
    old = _function(stack, "apitest-py39", code=newer, runtime="python3.9")
    with pytest.raises(ClientError) as refused:
        stack.client("lambda").invoke(FunctionName=old, Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "InvalidRuntimeException"
    assert "Python 3.9" in refused.value.response["Error"]["Message"]
    assert "3.10" in refused.value.response["Error"]["Message"]
    missing = stack.client("lambda").create_function(
        FunctionName="apitest-nohandler",
        Runtime="python3.11",
        Role=_lambda_role(stack, "apitest-nohandler-role"),
        Handler="echo/app.nothing",
        Code={"ZipFile": _zip({"echo/app.py": ECHO})},
    )
    answer = stack.client("lambda").invoke(FunctionName=missing["FunctionArn"], Payload=b"{}")
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == (
        "Runtime.HandlerNotFound",
        "Handler 'nothing' missing on module 'echo/app'",
    )
