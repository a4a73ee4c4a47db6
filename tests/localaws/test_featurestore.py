"""Feature groups from CloudFormation and the Feature Store runtime the local stack serves."""

from __future__ import annotations

import uuid

import pytest
import yaml
from botocore.exceptions import ClientError

TEMPLATE = {
    "Resources": {
        "Users": {
            "Type": "AWS::SageMaker::FeatureGroup",
            "Properties": {
                "FeatureGroupName": None,
                "RecordIdentifierFeatureName": "user_id",
                "EventTimeFeatureName": "event_time",
                "RoleArn": "arn:aws:iam::123456789012:role/sm",
                "FeatureDefinitions": [
                    {"FeatureName": "user_id", "FeatureType": "String"},
                    {"FeatureName": "event_time", "FeatureType": "String"},
                    {"FeatureName": "frequency", "FeatureType": "Integral"},
                    {"FeatureName": "monetary", "FeatureType": "Fractional"},
                ],
                "OnlineStoreConfig": {"EnableOnlineStore": True},
                "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://bucket/fs"}},
            },
        }
    },
    "Outputs": {"Name": {"Value": {"Ref": "Users"}}},
}


@pytest.fixture
def group(stack) -> str:
    name = f"users-{uuid.uuid4().hex[:8]}"
    template = {**TEMPLATE}
    template["Resources"]["Users"]["Properties"]["FeatureGroupName"] = name
    cfn = stack.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=yaml.safe_dump(template))
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    return name


def record(user: str, when: str, frequency: str = "3", monetary: str = "12.5") -> list[dict[str, str]]:
    return [
        {"FeatureName": "user_id", "ValueAsString": user},
        {"FeatureName": "event_time", "ValueAsString": when},
        {"FeatureName": "frequency", "ValueAsString": frequency},
        {"FeatureName": "monetary", "ValueAsString": monetary},
    ]


def test_a_feature_group_from_cloudformation_is_described_with_its_online_store(stack, group):
    described = stack.client("sagemaker").describe_feature_group(FeatureGroupName=group)
    assert described["RecordIdentifierFeatureName"] == "user_id"
    assert described["OnlineStoreConfig"] == {"EnableOnlineStore": True}
    assert [d["FeatureName"] for d in described["FeatureDefinitions"]][-1] == "monetary"


def test_put_then_get_keeps_the_newest_event_time(stack, group):
    runtime = stack.client("sagemaker-featurestore-runtime")
    runtime.put_record(FeatureGroupName=group, Record=record("17850", "2011-10-31T23:59:59Z", "5"))
    runtime.put_record(FeatureGroupName=group, Record=record("17850", "2011-09-30T23:59:59Z", "1"))  # older: ignored
    got = runtime.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="17850")["Record"]
    assert {e["FeatureName"]: e["ValueAsString"] for e in got}["frequency"] == "5"
    assert "Record" not in runtime.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="nobody")
    batch = runtime.batch_get_record(
        Identifiers=[{"FeatureGroupName": group, "RecordIdentifiersValueAsString": ["17850", "nobody"]}]
    )
    assert [r["RecordIdentifierValueAsString"] for r in batch["Records"]] == ["17850"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (record("1", "2011-10-31T23:59:59Z", frequency="many"), "Invalid value 'many' for feature frequency"),
        (record("1", "31/10/2011"), "event time feature event_time"),
        (record("1", "2011-10-31T23:59:59Z")[1:], "missing the required feature user_id"),
        ([*record("1", "2011-10-31T23:59:59Z"), {"FeatureName": "age", "ValueAsString": "3"}], "age is not defined"),
    ],
    ids=["type", "event-time", "identifier", "undefined"],
)
def test_records_are_validated_against_the_definitions(stack, group, bad, message):
    with pytest.raises(ClientError, match=message) as raised:
        stack.client("sagemaker-featurestore-runtime").put_record(FeatureGroupName=group, Record=bad)
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_an_unknown_group_is_not_found(stack):
    with pytest.raises(ClientError) as raised:
        stack.client("sagemaker-featurestore-runtime").put_record(
            FeatureGroupName="no-such-group", Record=record("1", "2011-10-31T23:59:59Z")
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
