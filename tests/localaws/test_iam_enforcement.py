"""IAM enforced by the local stack as AWS does: boto3 calls signed with a role's session are refused
in each protocol's own format, naming principal, action and resource; root stays unrestricted."""

from __future__ import annotations

import json
import ssl
import urllib.request
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localaws.iam.sessions import assume_role_as_service
from localaws.server import LocalAwsStack
from localaws.wire import AwsError

ACCOUNT = "123456789012"
TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_for(stack, service: str, credentials: dict[str, str]):
    return boto3.client(
        service,
        endpoint_url=stack.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
    )


def make_role(stack, statements: list[dict], trust: dict = TRUST_ACCOUNT) -> str:
    iam = stack.client("iam")
    name = unique("iam-test-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(document))
    return arn


def make_user(stack, statements: list[dict]) -> dict[str, str]:
    iam = stack.client("iam")
    name = unique("iam-test-user")
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="grants", PolicyDocument=json.dumps(document))
    return iam.create_access_key(UserName=name)["AccessKey"]


def session(stack, statements: list[dict]) -> tuple[str, dict[str, str]]:
    """A role with `statements`, assumed through STS by a user allowed to: (role ARN, credentials)."""
    role_arn = make_role(stack, statements)
    user = make_user(stack, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}])
    sts = client_for(stack, "sts", user)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="job")["Credentials"]
    return role_arn, credentials


def denied(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return {**caught.value.response["Error"], "Status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"]}


@pytest.fixture(scope="module")
def resources(stack) -> dict[str, str]:
    bucket = unique("iam-test-bucket")
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/part-0.csv", Body=b"a,b\n")
    s3.put_object(Bucket=bucket, Key="secret/key.txt", Body=b"s")
    stack.client("ssm").put_parameter(Name=f"/{bucket}/setting", Value="v", Type="String")
    topic = stack.client("sns").create_topic(Name=unique("iam-test-topic"))["TopicArn"]
    return {"bucket": bucket, "parameter": f"/{bucket}/setting", "topic": topic}


def test_a_role_without_the_permission_is_refused_in_each_protocol(stack, resources):
    bucket, parameter, topic = resources["bucket"], resources["parameter"], resources["topic"]
    role_arn, credentials = session(stack, [])
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/job"
    region_account = f"us-east-1:{ACCOUNT}"
    cases = [
        (  # REST-XML
            lambda: client_for(stack, "s3", credentials).get_object(Bucket=bucket, Key="data/part-0.csv"),
            ("AccessDenied", 403, "s3:GetObject", f'"arn:aws:s3:::{bucket}/data/part-0.csv"'),
        ),
        (  # JSON 1.1
            lambda: client_for(stack, "ssm", credentials).get_parameter(Name=parameter),
            ("AccessDeniedException", 400, "ssm:GetParameter", f"arn:aws:ssm:{region_account}:parameter{parameter}"),
        ),
        (  # JSON 1.1, an operation the stack answers itself
            lambda: client_for(stack, "sagemaker", credentials).describe_training_job(TrainingJobName="nope"),
            (
                "AccessDeniedException",
                400,
                "sagemaker:DescribeTrainingJob",
                f"arn:aws:sagemaker:{region_account}:training-job/nope",
            ),
        ),
        (  # REST-JSON
            lambda: client_for(stack, "sagemaker-runtime", credentials).invoke_endpoint(EndpointName="rec", Body=b"{}"),
            (
                "AccessDeniedException",
                403,
                "sagemaker:InvokeEndpoint",
                f"arn:aws:sagemaker:{region_account}:endpoint/rec",
            ),
        ),
        (  # query
            lambda: client_for(stack, "sns", credentials).publish(TopicArn=topic, Message="m"),
            ("AuthorizationError", 403, "sns:Publish", topic),
        ),
        (  # query
            lambda: client_for(stack, "cloudformation", credentials).describe_stacks(StackName="mlops-x"),
            (
                "AccessDenied",
                403,
                "cloudformation:DescribeStacks",
                f"arn:aws:cloudformation:{region_account}:stack/mlops-x/*",
            ),
        ),
    ]
    for call, (code, status, action, resource) in cases:
        error = denied(call)
        assert (error["Code"], error["Status"]) == (code, status), error
        assert error["Message"] == (
            f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )


def test_a_grant_allows_exactly_its_resources(stack, resources):
    bucket = resources["bucket"]
    _, credentials = session(
        stack,
        [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        ],
    )
    s3 = client_for(stack, "s3", credentials)
    assert s3.get_object(Bucket=bucket, Key="data/part-0.csv")["Body"].read() == b"a,b\n"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="data/")["KeyCount"] == 1
    assert "s3:GetObject" in denied(lambda: s3.get_object(Bucket=bucket, Key="secret/key.txt"))["Message"]
    assert "s3:PutObject" in denied(lambda: s3.put_object(Bucket=bucket, Key="data/new.csv", Body=b"x"))["Message"]
    assert denied(lambda: s3.get_object(Bucket=bucket, Key="data/missing.csv"))["Code"] == "NoSuchKey"
    # Without s3:ListBucket a missing key is AccessDenied, not NoSuchKey: as on AWS.
    _, no_list = session(stack, [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}])
    s3 = client_for(stack, "s3", no_list)
    assert s3.get_object(Bucket=bucket, Key="data/part-0.csv")["Body"].read() == b"a,b\n"
    error = denied(lambda: s3.get_object(Bucket=bucket, Key="data/missing.csv"))
    assert error["Code"] == "AccessDenied"
    assert f'perform: s3:ListBucket on resource: "arn:aws:s3:::{bucket}"' in error["Message"]
    assert denied(lambda: s3.head_object(Bucket=bucket, Key="data/missing.csv"))["Code"] == "403"


def test_a_secure_transport_deny_refuses_plain_http(stack, resources):
    bucket = unique("iam-test-tls")
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    deny_plain_http = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny_plain_http))
    _, credentials = session(stack, [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    with LocalAwsStack(tls=False) as plain:  # the session stack speaks HTTPS; the same moto state over HTTP
        error = denied(lambda: client_for(plain, "s3", credentials).put_object(Bucket=bucket, Key="k", Body=b"x"))
    assert error["Code"] == "AccessDenied"
    assert error["Message"].endswith(
        f'perform: s3:PutObject on resource: "arn:aws:s3:::{bucket}/k" with an explicit deny in a resource-based policy'
    )


def test_assume_role_honours_the_trust_policy(stack):
    trusts_a_service = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = make_role(stack, [], trust=trusts_a_service)
    user = make_user(stack, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    error = denied(lambda: client_for(stack, "sts", user).assume_role(RoleArn=role_arn, RoleSessionName="x1"))
    assert error["Code"] == "AccessDenied"
    assert error["Message"].endswith(
        f"sts:AssumeRole on resource: {role_arn} because no resource-based policy allows the sts:AssumeRole action"
    )
    # Trust naming the account: the caller's identity policy decides.
    open_role = make_role(stack, [])
    nobody = make_user(stack, [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}])
    error = denied(lambda: client_for(stack, "sts", nobody).assume_role(RoleArn=open_role, RoleSessionName="x2"))
    assert "because no identity-based policy allows the sts:AssumeRole action" in error["Message"]
    assert client_for(stack, "sts", user).assume_role(RoleArn=open_role, RoleSessionName="x3")["Credentials"]


def test_a_service_assumes_only_roles_that_trust_it(stack):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:*"},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            }
        ],
    }
    role_arn = make_role(stack, [], trust=trust)
    task = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/mlops/abc"
    environment = assume_role_as_service(stack, role_arn, "ecs-tasks.amazonaws.com", "task-abc", source_arn=task)
    credentials = {
        "AccessKeyId": environment["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": environment["AWS_SECRET_ACCESS_KEY"],
        "SessionToken": environment["AWS_SESSION_TOKEN"],
    }
    identity = client_for(stack, "sts", credentials).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/task-abc"
    with pytest.raises(AwsError, match=r"trust policy does not allow the service principal sagemaker\.amazonaws\.com"):
        assume_role_as_service(stack, role_arn, "sagemaker.amazonaws.com", "job")
    with pytest.raises(AwsError, match=r"ecs-tasks\.amazonaws\.com is not authorized to perform: sts:AssumeRole"):
        assume_role_as_service(stack, role_arn, "ecs-tasks.amazonaws.com", "task", source_arn="arn:aws:lambda:x")


def test_passing_a_role_needs_iam_pass_role_to_that_service(stack):
    task_role = make_role(stack, [])
    family = unique("iam-test-task")
    stack.client("ecs").register_task_definition(
        family=family,
        taskRoleArn=task_role,
        containerDefinitions=[{"name": "main", "image": "busybox", "memory": 128}],
    )
    _, credentials = session(stack, [{"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*"}])
    error = denied(lambda: client_for(stack, "ecs", credentials).run_task(taskDefinition=family, cluster="none"))
    assert error["Message"].endswith(
        f"iam:PassRole on resource: {task_role} because no identity-based policy allows the iam:PassRole action"
    )
    # iam:PassRole granted only towards SageMaker does not cover ECS.
    _, sagemaker_only = session(
        stack,
        [
            {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": task_role,
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
    )
    error = denied(lambda: client_for(stack, "ecs", sagemaker_only).run_task(taskDefinition=family, cluster="none"))
    assert "iam:PassRole" in error["Message"]


def test_an_operation_without_iam_mapping_is_refused(stack):
    _, credentials = session(stack, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    error = denied(lambda: client_for(stack, "sagemaker", credentials).list_domains())
    assert error["Code"] == "AccessDeniedException"
    assert "localaws has no IAM mapping for sagemaker:ListDomains" in error["Message"]


def test_root_is_unrestricted_and_unknown_keys_are_refused(stack):
    assert "Domains" in stack.client("sagemaker").list_domains()  # unmapped, yet root's
    unknown = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "x"}
    error = denied(lambda: client_for(stack, "sts", unknown).get_caller_identity())
    assert (error["Code"], error["Status"]) == ("InvalidClientTokenId", 403)
    error = denied(lambda: client_for(stack, "ssm", unknown).get_parameter(Name="/x"))
    assert (error["Code"], error["Status"]) == ("UnrecognizedClientException", 400)
    error = denied(lambda: client_for(stack, "s3", unknown).list_buckets())
    assert (error["Code"], error["Status"]) == ("InvalidAccessKeyId", 403)


def test_every_decision_is_listed_with_counts(stack, resources):
    role_arn, credentials = session(stack, [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}])
    ssm = client_for(stack, "ssm", credentials)
    for _ in range(2):
        ssm.get_parameter(Name=resources["parameter"])
    resource = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{resources['parameter']}"
    expected = {
        "principal": role_arn,
        "action": "ssm:GetParameter",
        "resource": resource,
        "decision": "Allow",
        "count": 2,
    }
    assert expected in stack.iam_exercised()
    context = ssl.create_default_context(cafile=stack.ca_bundle) if stack.ca_bundle else None
    with urllib.request.urlopen(f"{stack.url}/_localaws/iam/exercised", timeout=10, context=context) as response:
        assert expected in json.loads(response.read())


def test_the_escape_hatch_turns_enforcement_off(monkeypatch):
    monkeypatch.setenv("LOCALAWS_IAM", "off")
    assert LocalAwsStack().enforce_iam is False
    monkeypatch.delenv("LOCALAWS_IAM")
    assert LocalAwsStack().enforce_iam is True


def test_sse_kms_objects_need_the_key_through_s3(stack):
    key_arn = stack.client("kms").create_key(Description="iam-test bucket key")["KeyMetadata"]["Arn"]
    bucket = unique("iam-test-kms")
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]
        },
    )
    objects = {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"}
    _, without_key = session(stack, [objects])
    error = denied(lambda: client_for(stack, "s3", without_key).put_object(Bucket=bucket, Key="k", Body=b"x"))
    assert f'kms:GenerateDataKey on resource: "{key_arn}" because no identity-based policy' in error["Message"]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    key_use = {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key_arn, "Condition": via_s3}
    _, writer = session(stack, [objects, key_use])
    client_for(stack, "s3", writer).put_object(Bucket=bucket, Key="k", Body=b"x")
    error = denied(lambda: client_for(stack, "s3", writer).get_object(Bucket=bucket, Key="k"))
    assert f'kms:Decrypt on resource: "{key_arn}"' in error["Message"]


def test_a_service_acting_with_a_role_is_checked_like_the_role(stack):
    logs = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:*:*:log-group:/ecs/*"}
    role_arn = make_role(stack, [logs])
    stream = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/ingest:log-stream:ecs/main/1"
    assert stack.iam.authorize_role(role_arn, "logs:PutLogEvents", stream, session_name="ecs-agent") is None
    error = stack.iam.authorize_role(role_arn, "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x")
    assert error.code == "AccessDenied"
    assert "ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/x because" in error.message


def test_resources_come_from_the_parameters_as_they_arrive_on_the_wire(stack, resources):
    bucket = resources["bucket"]
    queue = stack.client("sqs").create_queue(QueueName=unique("iam-test-queue"))["QueueUrl"]
    role_arn, credentials = session(stack, [])
    calls = {
        lambda: client_for(stack, "s3", credentials).copy_object(
            Bucket=bucket, Key="copy/b.csv", CopySource={"Bucket": bucket, "Key": "data/part-0.csv"}
        ): ("s3:PutObject", f"arn:aws:s3:::{bucket}/copy/b.csv"),
        lambda: client_for(stack, "s3", credentials).delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "data/part-0.csv"}]}
        ): ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/data/part-0.csv"),
        lambda: client_for(stack, "sqs", credentials).send_message(QueueUrl=queue, MessageBody="m"): (
            "sqs:SendMessage",
            f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.rsplit('/', 1)[-1]}",
        ),
        lambda: client_for(stack, "logs", credentials).get_log_events(logGroupName="/ecs/x", logStreamName="a/b"): (
            "logs:GetLogEvents",
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/x:log-stream:a/b",
        ),
        lambda: client_for(stack, "dynamodb", credentials).get_item(TableName="ab-tests", Key={"id": {"S": "1"}}): (
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ab-tests",
        ),
        lambda: client_for(stack, "ecs", credentials).describe_tasks(cluster="mlops", tasks=["abc"]): (
            "ecs:DescribeTasks",
            f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/mlops/abc",
        ),
    }
    for call, (action, resource) in calls.items():
        assert f"{action} on resource: " in denied(call)["Message"]
        decisions = [e for e in stack.iam_exercised() if e["principal"] == role_arn and e["action"] == action]
        assert [(e["resource"], e["decision"]) for e in decisions] == [(resource, "ImplicitDeny")]
