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


def test_batch_get_record_holds_the_api_bound(stack, group):
    runtime = stack.client("sagemaker-featurestore-runtime")
    ids = [str(i) for i in range(101)]
    with pytest.raises(ClientError, match="less than or equal to 100"):
        runtime.batch_get_record(Identifiers=[{"FeatureGroupName": group, "RecordIdentifiersValueAsString": ids}])


def test_the_hook_puts_only_what_the_online_store_does_not_hold(stack, group, admin_conn):
    """A rerun of the same table adds nothing to the offline store; a changed record is put again."""
    from mlops.hooks.feature_store import FeatureStoreHook

    hook = FeatureStoreHook(aws_conn_id="aws_default")
    table = [record(f"u{i}", "2011-10-31T23:59:59Z", frequency=str(i)) for i in range(250)]
    offline = stack.backend("sagemaker-featurestore-runtime", "123456789012", "us-east-1").offline_records

    first = hook.put_records(group, iter(table), "user_id")
    assert (first.sent, first.unchanged, len(offline(group))) == (250, 0, 250)
    again = hook.put_records(group, iter(table), "user_id")
    assert (again.sent, again.unchanged, len(offline(group))) == (0, 250, 250)
    table[7] = record("u7", "2011-10-31T23:59:59Z", frequency="70")
    changed = hook.put_records(group, iter(table), "user_id")
    assert (changed.sent, changed.unchanged, len(offline(group))) == (1, 249, 251)
    held = stack.client("sagemaker-featurestore-runtime").get_record(
        FeatureGroupName=group, RecordIdentifierValueAsString="u7"
    )["Record"]
    assert {"FeatureName": "frequency", "ValueAsString": "70"} in held
