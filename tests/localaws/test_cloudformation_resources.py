"""Resources CloudFormation creates in the service's backend, refused as the service refuses them:
bucket and topic policies, SNS subscriptions, SageMaker domains, user profiles and MLflow tracking
servers; a type nothing models fails its resource instead of completing unseen."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.localaws.test_sagemaker_domain import TRUST_SAGEMAKER, network  # noqa: F401 - fixture


def deploy(stack, template: dict, **parameters) -> tuple[str, str, list[dict]]:
    """Create a stack; (name, status, events) once it is no longer in progress."""
    cfn = stack.client("cloudformation")
    name = f"res-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.2)
    return name, status, cfn.describe_stack_events(StackName=name)["StackEvents"]


def failure(events: list[dict]) -> tuple[str, str]:
    """(logical id, reason) of the resource that failed."""
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed, events
    return failed[0]["LogicalResourceId"], failed[0].get("ResourceStatusReason", "")


def outputs(stack, name: str) -> dict[str, str]:
    found = stack.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def bucket_policy(bucket_arn_sub: str = "${Bucket.Arn}", **statement) -> dict:
    base = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::Sub": bucket_arn_sub}, {"Fn::Sub": bucket_arn_sub + "/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    base.update(statement)
    return {"Version": "2012-10-17", "Statement": [base]}


def bucket_template(policy: dict) -> dict:
    return {
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    }
                },
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": policy},
            },
        },
        "Outputs": {"Bucket": {"Value": {"Ref": "Bucket"}}},
    }


# --- S3 bucket policies ----------------------------------------------------------------------
def test_bucket_policy_is_set_where_s3_reads_it(stack):
    name, status, _ = deploy(stack, bucket_template(bucket_policy()))
    assert status == "CREATE_COMPLETE"
    bucket = outputs(stack, name)["Bucket"]
    policy = json.loads(stack.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Sid"] == "DenyInsecureTransport"
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def test_bucket_policy_is_removed_with_its_resource(stack):
    s3 = stack.client("s3")
    bucket = f"kept-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    template = {
        "Parameters": {"BucketName": {"Type": "String"}},
        "Resources": {
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "BucketName"},
                    "PolicyDocument": bucket_policy("arn:aws:s3:::${BucketName}"),
                },
            }
        },
    }
    name, status, _ = deploy(stack, template, BucketName=bucket)
    assert status == "CREATE_COMPLETE"
    assert "DenyInsecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    stack.client("cloudformation").delete_stack(StackName=name)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Resource": "arn:aws:s3:::somebody-elses-bucket/*"}, "Policy has invalid resource"),
        ({"Action": "s3:GetObjekt"}, "Policy has invalid action"),
        ({"Action": "sqs:SendMessage"}, "Policy has invalid action"),
        ({"Principal": {"AWS": "arn:aws:iam::123456789012:role/no-such-role"}}, "Invalid principal in policy"),
        ({"Principal": {"Service": "not a service"}}, "Invalid principal in policy"),
    ],
)
def test_stack_with_a_bad_bucket_policy_fails_naming_resource_and_reason(stack, statement, message):
    _, status, events = deploy(stack, bucket_template(bucket_policy(**statement)))
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "BucketPolicy"
    assert "MalformedPolicy" in reason and message in reason


def test_put_bucket_policy_refuses_like_s3(stack):
    s3 = stack.client("s3")
    bucket = f"wire-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert err.value.response["Error"]["Code"] == "MalformedPolicy"
    assert "invalid Json" in err.value.response["Error"]["Message"]
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        ],
    }
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    with pytest.raises(ClientError) as err:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    assert err.value.response["Error"]["Code"] == "AccessDenied"


# --- SNS topic policies and subscriptions ------------------------------------------------------
def topic_template(policy_statement: dict | None = None, subscription: dict | None = None) -> dict:
    resources: dict = {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}
    if policy_statement is not None:
        resources["TopicPolicy"] = {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "Topic"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [policy_statement]},
            },
        }
    if subscription is not None:
        resources["Subscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": {"Ref": "Topic"}, **subscription},
        }
    out = {"Topic": {"Value": {"Ref": "Topic"}}}
    if subscription is not None:
        out["Subscription"] = {"Value": {"Ref": "Subscription"}}
    return {"Resources": resources, "Outputs": out}


PUBLISH_FROM_CLOUDWATCH = {
    "Sid": "CloudWatchAlarmsPublish",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": {"Ref": "Topic"},
}


def test_topic_policy_is_the_topics_policy_attribute(stack):
    name, status, _ = deploy(stack, topic_template(PUBLISH_FROM_CLOUDWATCH))
    assert status == "CREATE_COMPLETE"
    topic = outputs(stack, name)["Topic"]
    policy = json.loads(stack.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "CloudWatchAlarmsPublish"
    assert policy["Statement"][0]["Resource"] == topic


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({"Action": "s3:GetObject"}, "not an action of sns"),
        ({"Resource": "arn:aws:sns:us-east-1:123456789012:another-topic"}, "is not this topic"),
        ({"Effect": "Maybe"}, "Effect"),
    ],
)
def test_bad_topic_policy_fails_the_resource(stack, statement, fragment):
    _, status, events = deploy(stack, topic_template({**PUBLISH_FROM_CLOUDWATCH, **statement}))
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "TopicPolicy" and "Invalid parameter: Policy Error" in reason and fragment in reason


def test_sqs_subscription_receives_what_the_topic_publishes(stack):
    sqs, sns = stack.client("sqs"), stack.client("sns")
    queue = sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = {
        "Protocol": "sqs",
        "Endpoint": queue_arn,
        "RawMessageDelivery": "false",
        "FilterPolicy": {"severity": ["high"]},
    }
    name, status, _ = deploy(stack, topic_template(subscription=subscription))
    assert status == "CREATE_COMPLETE"
    topic, arn = outputs(stack, name)["Topic"], outputs(stack, name)["Subscription"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["Endpoint"] == queue_arn and attributes["RawMessageDelivery"] == "false"
    assert json.loads(attributes["FilterPolicy"]) == {"severity": ["high"]}

    sns.publish(
        TopicArn=topic,
        Message="filtered out",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "low"}},
    )
    sns.publish(
        TopicArn=topic,
        Message="delivered",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
    )
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in received]
    assert [b["Message"] for b in bodies] == ["delivered"]  # an SNS envelope: RawMessageDelivery is false
    assert bodies[0]["TopicArn"] == topic


def test_raw_message_delivery_delivers_the_message_itself(stack):
    sqs, sns = stack.client("sqs"), stack.client("sns")
    queue = sqs.create_queue(QueueName=f"raw-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = {"Protocol": "sqs", "Endpoint": queue_arn, "RawMessageDelivery": True}
    name, status, _ = deploy(stack, topic_template(subscription=subscription))
    assert status == "CREATE_COMPLETE"
    sns.publish(TopicArn=outputs(stack, name)["Topic"], Message="just this")
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in received] == ["just this"]


def test_email_subscription_is_pending_confirmation(stack):
    name, status, _ = deploy(
        stack, topic_template(subscription={"Protocol": "email", "Endpoint": "oncall@example.com"})
    )
    assert status == "CREATE_COMPLETE"
    arn = outputs(stack, name)["Subscription"]
    attributes = stack.client("sns").get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "true"


@pytest.mark.parametrize(
    ("subscription", "fragment"),
    [
        ({"Protocol": "email", "Endpoint": "not-an-address"}, "Email address"),
        ({"Protocol": "carrier-pigeon", "Endpoint": "x"}, "does not support this protocol"),
        ({"Protocol": "sqs", "Endpoint": "https://queue.example.com/q"}, "SQS endpoint ARN"),
        ({"Protocol": "https", "Endpoint": "http://example.com/hook"}, "must match the specified protocol"),
    ],
)
def test_bad_subscription_fails_the_resource(stack, subscription, fragment):
    _, status, events = deploy(stack, topic_template(subscription=subscription))
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "Subscription" and fragment in reason


# --- SageMaker ---------------------------------------------------------------------------------
def studio_template(with_security_group: bool) -> dict:
    settings: dict = {"ExecutionRole": {"Fn::GetAtt": ["Role", "Arn"]}}
    if with_security_group:
        settings["SecurityGroups"] = [{"Fn::GetAtt": ["DomainSecurityGroup", "GroupId"]}]
    return {
        "Parameters": {"VpcId": {"Type": "String"}, "SubnetIds": {"Type": "CommaDelimitedList"}},
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST_SAGEMAKER}},
            "DomainSecurityGroup": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "studio", "VpcId": {"Ref": "VpcId"}},
            },
            "Domain": {
                "Type": "AWS::SageMaker::Domain",
                "Properties": {
                    "DomainName": {"Fn::Sub": "studio-${AWS::StackName}"},
                    "AuthMode": "IAM",
                    "AppNetworkAccessType": "VpcOnly",
                    "VpcId": {"Ref": "VpcId"},
                    "SubnetIds": {"Ref": "SubnetIds"},
                    "DefaultUserSettings": settings,
                },
            },
            "UserProfile": {
                "Type": "AWS::SageMaker::UserProfile",
                "Properties": {"DomainId": {"Fn::GetAtt": ["Domain", "DomainId"]}, "UserProfileName": "ml-engineer"},
            },
        },
        "Outputs": {
            "DomainId": {"Value": {"Fn::GetAtt": ["Domain", "DomainId"]}},
            "DomainRef": {"Value": {"Ref": "Domain"}},
            "Url": {"Value": {"Fn::GetAtt": ["Domain", "Url"]}},
            "UserProfileArn": {"Value": {"Fn::GetAtt": ["UserProfile", "UserProfileArn"]}},
            "UserProfileRef": {"Value": {"Ref": "UserProfile"}},
        },
    }


def test_vpc_only_domain_without_security_groups_fails_the_stack(stack, network):  # noqa: F811
    _name, status, events = deploy(
        stack, studio_template(with_security_group=False), VpcId=network["vpc"], SubnetIds=",".join(network["subnets"])
    )
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "Domain" and "SecurityGroups" in reason and "VpcOnly" in reason


def test_domain_and_user_profile_are_created_and_deleted_with_the_stack(stack, network):  # noqa: F811
    name, status, events = deploy(
        stack, studio_template(with_security_group=True), VpcId=network["vpc"], SubnetIds=",".join(network["subnets"])
    )
    assert status == "CREATE_COMPLETE", [e.get("ResourceStatusReason") for e in events]
    out = outputs(stack, name)
    assert out["DomainRef"] == out["DomainId"] and out["DomainId"].startswith("d-")
    sm = stack.client("sagemaker")
    domain = sm.describe_domain(DomainId=out["DomainId"])
    assert domain["Status"] == "InService" and domain["Url"] == out["Url"]
    profile = sm.describe_user_profile(DomainId=out["DomainId"], UserProfileName="ml-engineer")
    assert profile["UserProfileArn"] == out["UserProfileArn"] and profile["Status"] == "InService"
    assert out["UserProfileRef"] == f"ml-engineer|{out['DomainId']}"  # the schema's primary identifier

    stack.client("cloudformation").delete_stack(StackName=name)
    with pytest.raises(ClientError) as err:
        sm.describe_domain(DomainId=out["DomainId"])
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_domain_properties_are_checked_against_the_resource_schema(stack, network):  # noqa: F811
    template = studio_template(with_security_group=True)
    del template["Resources"]["Domain"]["Properties"]["AuthMode"]
    _, status, events = deploy(stack, template, VpcId=network["vpc"], SubnetIds=",".join(network["subnets"]))
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert (
        logical_id == "Domain"
        and "Properties validation failed" in reason
        and "'AuthMode' is a required property" in reason
    )


def test_mlflow_tracking_server_is_created_with_its_attributes(stack):
    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    stack.client("s3").create_bucket(Bucket=bucket)
    template = {
        "Parameters": {"Bucket": {"Type": "String"}, "Size": {"Type": "String"}},
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST_SAGEMAKER}},
            "Server": {
                "Type": "AWS::SageMaker::MlflowTrackingServer",
                "Properties": {
                    "TrackingServerName": {"Fn::Sub": "mlflow-${AWS::StackName}"},
                    "ArtifactStoreUri": {"Fn::Sub": "s3://${Bucket}/mlflow"},
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "TrackingServerSize": {"Ref": "Size"},
                    "AutomaticModelRegistration": True,
                },
            },
        },
        "Outputs": {
            "Arn": {"Value": {"Fn::GetAtt": ["Server", "TrackingServerArn"]}},
            "Name": {"Value": {"Ref": "Server"}},
        },
    }
    name, status, events = deploy(stack, template, Bucket=bucket, Size="Small")
    assert status == "CREATE_COMPLETE", [e.get("ResourceStatusReason") for e in events]
    out = outputs(stack, name)
    described = stack.client("sagemaker").describe_mlflow_tracking_server(TrackingServerName=out["Name"])
    assert described["TrackingServerArn"] == out["Arn"] and described["TrackingServerStatus"] == "Created"

    _, status, events = deploy(stack, template, Bucket=bucket, Size="Gigantic")
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "Server" and "TrackingServerSize" in reason


def test_security_group_egress_replaces_the_default(stack, network):  # noqa: F811
    template = {
        "Parameters": {"VpcId": {"Type": "String"}},
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "egress",
                    "VpcId": {"Ref": "VpcId"},
                    "SecurityGroupEgress": [
                        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
                    ],
                },
            }
        },
        "Outputs": {"Group": {"Value": {"Fn::GetAtt": ["Group", "GroupId"]}}},
    }
    name, status, _ = deploy(stack, template, VpcId=network["vpc"])
    assert status == "CREATE_COMPLETE"
    group = stack.client("ec2").describe_security_groups(GroupIds=[outputs(stack, name)["Group"]])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p.get("FromPort")) for p in group["IpPermissionsEgress"]] == [("tcp", 443)]


# --- nothing else completes unseen -------------------------------------------------------------
def test_a_type_the_local_stack_does_not_create_fails_its_resource(stack):
    template = {
        "Resources": {
            "Space": {"Type": "AWS::SageMaker::Space", "Properties": {"DomainId": "d-000000000000", "SpaceName": "s"}}
        }
    }
    _, status, events = deploy(stack, template)
    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure(events)
    assert logical_id == "Space" and "The local stack does not create AWS::SageMaker::Space resources" in reason


def test_sns_api_refuses_what_the_resources_refuse(stack):
    sns = stack.client("sns")
    topic = sns.create_topic(Name=f"wire-{uuid.uuid4().hex[:8]}")["TopicArn"]
    bad = {
        "Version": "2012-10-17",
        "Statement": [{**PUBLISH_FROM_CLOUDWATCH, "Resource": topic, "Action": "s3:GetObject"}],
    }
    with pytest.raises(ClientError) as err:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(bad))
    assert err.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as err:
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="nobody")
    assert err.value.response["Error"]["Code"] == "InvalidParameter"
    arn = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com", ReturnSubscriptionArn=True)
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn["SubscriptionArn"])["Attributes"]
    assert attributes["PendingConfirmation"] == "true"


def test_bucket_policy_conditions_apply_as_in_iam(stack):
    """moto's object check ignored conditions: DenyInsecureTransport denied every request. Now the
    IAM engine evaluates the policy with the request's context, and a plain deny still applies."""
    from tests.localaws.test_iam_enforcement import client_for, session

    name, status, _ = deploy(stack, bucket_template(bucket_policy()))
    assert status == "CREATE_COMPLETE"
    s3 = stack.client("s3")
    bucket = outputs(stack, name)["Bucket"]
    s3.put_object(Bucket=bucket, Key="data/a.csv", Body=b"x")
    _, credentials = session(
        stack, [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"}]
    )
    reader = client_for(stack, "s3", credentials)
    assert reader.get_object(Bucket=bucket, Key="data/a.csv")["Body"].read() == b"x"
    deny_reads = bucket_policy(Sid="NoReads", Action="s3:GetObject", Resource=f"arn:aws:s3:::{bucket}/data/*")
    deny_reads["Statement"][0].pop("Condition")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny_reads))
    with pytest.raises(ClientError) as err:
        reader.get_object(Bucket=bucket, Key="data/a.csv")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
