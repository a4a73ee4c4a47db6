"""The A/B test's data path as deployed by infra_bootstrap: who may write the conversion namespace,
and the API's A/B routes answering over HTTPS through API Gateway and the function's own process."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.api_client import ApiSession, api_endpoint, stage_root
from localaws.iam.sessions import assume_role_as_service
from tests.conftest import ssm_tree

pytestmark = pytest.mark.slow
NAMESPACE = "MLOps/Recommendations"


def _role(stack, stack_name: str, logical_id: str) -> str:
    cfn, iam = stack.client("cloudformation"), stack.client("iam")
    name = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)["StackResourceDetail"]
    return iam.get_role(RoleName=name["PhysicalResourceId"].rsplit("/", 1)[-1])["Role"]["Arn"]


def _cloudwatch_as(stack, role_arn: str, service: str):
    env = assume_role_as_service(stack, role_arn, service, "conversion-path-test")
    return boto3.client(
        "cloudwatch",
        endpoint_url=stack.url,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


def _conversion(cloudwatch) -> None:
    dimensions = [
        {"Name": "EndpointName", "Value": f"iam-probe-{uuid.uuid4().hex[:6]}"},
        {"Name": "VariantName", "Value": "challenger"},
    ]
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE, MetricData=[{"MetricName": "Conversions", "Dimensions": dimensions, "Value": 1.0}]
    )


def test_only_the_api_role_may_write_conversions(platform, stack):
    """A challenger's inference.py runs as the model role (and a training or Studio job as the
    platform's execution role): neither may report conversions; the recommendation API's role may."""
    serving = ssm_tree(stack, "/mlops/dev/stacks/serving/")
    assert serving["/mlops/dev/stacks/serving/ConversionNamespace"][0] == NAMESPACE
    model_role = serving["/mlops/dev/stacks/serving/ModelExecutionRoleArn"][0]
    execution_role = ssm_tree(stack, "/mlops/dev/stacks/platform/")["/mlops/dev/stacks/platform/ExecutionRoleArn"][0]
    api_role = _role(stack, "mlops-personalize-dev", "FunctionRole")

    for role in (model_role, execution_role):
        with pytest.raises(ClientError) as refused:
            _conversion(_cloudwatch_as(stack, role, "sagemaker.amazonaws.com"))
        assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
        assert "cloudwatch:PutMetricData" in str(refused.value) and role.rsplit("/", 1)[-1] in str(refused.value)
    # the model role still writes SageMaker's own endpoint namespace
    _cloudwatch_as(stack, model_role, "sagemaker.amazonaws.com").put_metric_data(
        Namespace="/aws/sagemaker/Endpoints", MetricData=[{"MetricName": "probe", "Value": 1.0}]
    )
    _conversion(_cloudwatch_as(stack, api_role, "lambda.amazonaws.com"))


def test_the_ab_routes_answer_over_https_with_the_key(platform, stack):
    """Before any endpoint exists the model route says so (503); the conversion route refuses what it
    cannot attribute (404, 400); both need the key (403). Through API Gateway to the function."""
    url, key = api_endpoint(stack.client, stack.url)
    function = ssm_tree(stack, "/mlops/dev/stacks/personalize/")["/mlops/dev/stacks/personalize/FunctionName"][0]
    variables = stack.client("lambda").get_function(FunctionName=function)["Configuration"]["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == "mlops-recommender-dev"
    assert variables["CONVERSION_NAMESPACE"] == NAMESPACE
    assert variables["IMPRESSIONS_TABLE"] == "mlops-recommendation-impressions-dev"

    api = ApiSession(stage_root(url), key, cafile=stack.ca_bundle)
    anonymous = ApiSession(stage_root(url), None, cafile=stack.ca_bundle)
    try:
        names = [e["EndpointName"] for e in stack.client("sagemaker").list_endpoints()["Endpoints"]]
        if "mlops-recommender-dev" not in names:
            status, body = api.model_recommendations("12748", 5, "United Kingdom")
            assert (status, body["message"]) == (503, "recommendations are not available yet"), body
        status, body = api.conversion(uuid.uuid4().hex, "85123A")
        assert status == 404 and "is unknown" in body["message"], body
        status, body = api.request("POST", "/conversions", {"recommendationId": "r1"})
        assert status == 400 and body["message"].startswith("recommendationId must be"), body
        assert anonymous.conversion(uuid.uuid4().hex, "85123A")[0] == 403
        assert anonymous.model_recommendations("12748")[0] == 403
    finally:
        api.close()
        anonymous.close()
