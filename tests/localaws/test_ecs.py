"""ECS RunTask runs the task definition's container as a real local process."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

PROBE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/localaws-probe:1.0"
CLUSTER = "ecs-test"
LOG_GROUP = "/ecs/ecs-test"


ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def ecs_role(iam, name: str, statements: list[dict]) -> str:
    """A role ECS tasks may assume, with `statements` as its inline policy (created once)."""
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    iam.put_role_policy(
        RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    return iam.get_role(RoleName=name)["Role"]["Arn"]


@pytest.fixture(scope="module")
def ecs_env(stack):
    ecs, logs, ec2 = stack.client("ecs"), stack.client("logs"), stack.client("ec2")
    ecs.create_cluster(clusterName=CLUSTER)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    # what the agent needs for the probe image and the awslogs driver
    execution_role = ecs_role(
        stack.client("iam"),
        "ecs-test-execution",
        [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "arn:aws:ecr:*:*:repository/*"},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:us-east-1:123456789012:log-group:{LOG_GROUP}:*",
            },
        ],
    )
    return {"ecs": ecs, "logs": logs, "subnet": subnet, "execution_role": execution_role, "stack": stack}


def register(
    ecs,
    image: str = PROBE_IMAGE,
    command: list[str] | None = None,
    task_role: str | None = None,
    execution_role: str | None = "arn:aws:iam::123456789012:role/ecs-test-execution",
    **container,
) -> str:
    family = f"probe-{uuid.uuid4().hex[:8]}"
    roles = {"executionRoleArn": execution_role} if execution_role else {}
    if task_role:
        roles["taskRoleArn"] = task_role
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        **roles,
        containerDefinitions=[
            {
                "name": "probe",
                "image": image,
                "essential": True,
                "command": command or [],
                "environment": [{"name": "FROM_DEFINITION", "value": "definition"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": LOG_GROUP,
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "probe",
                    },
                },
                **container,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]


def run(env, task_definition: str, command: list[str] | None = None, **extra) -> dict:
    overrides = {"containerOverrides": [{"name": "probe", "command": command}]} if command else {}
    response = env["ecs"].run_task(
        cluster=CLUSTER,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [env["subnet"]], "assignPublicIp": "DISABLED"}},
        overrides=overrides,
        **extra,
    )
    assert response["failures"] == []
    return response["tasks"][0]


def wait_stopped(env, task_arn: str, timeout: float = 60) -> tuple[dict, list[str]]:
    """Polls like the provider's waiter; returns the final task and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = env["ecs"].describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        if task["lastStatus"] == "STOPPED":
            return task, seen
        time.sleep(0.1)
    raise AssertionError(f"task {task_arn} not STOPPED after {timeout}s; saw {seen}")


def log_lines(env, task_arn: str) -> list[str]:
    stream = f"probe/probe/{task_arn.rsplit('/', 1)[-1]}"
    events = env["logs"].get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)
    return [e["message"] for e in events["events"]]


def test_task_runs_the_container_and_reports_exit_code_and_logs(ecs_env):
    td = register(ecs_env["ecs"])
    started = run(ecs_env, td, ["lines=3", "sleep=1.5", "exit=0", "echo=FROM_DEFINITION,AWS_ENDPOINT_URL"])
    assert started["lastStatus"] == "PENDING"
    assert started["launchType"] == "FARGATE"
    assert started["attachments"][0]["type"] == "ElasticNetworkInterface"
    task, seen = wait_stopped(ecs_env, started["taskArn"])
    assert seen == ["PENDING", "RUNNING", "STOPPED"]
    assert task["containers"][0]["exitCode"] == 0
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["startedAt"] <= task["stoppedAt"]
    lines = log_lines(ecs_env, started["taskArn"])
    assert lines[:2] == ["FROM_DEFINITION=definition", f"AWS_ENDPOINT_URL={ecs_env['ecs'].meta.endpoint_url}"]
    assert lines[2:] == ["probe line 1", "probe line 2", "probe line 3"]


def test_overrides_replace_command_and_add_environment(ecs_env):
    td = register(ecs_env["ecs"], command=["exit=0"])
    response = ecs_env["ecs"].run_task(
        cluster=CLUSTER,
        taskDefinition=td,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [ecs_env["subnet"]]}},
        overrides={
            "containerOverrides": [
                {
                    "name": "probe",
                    "command": ["echo=FROM_DEFINITION,FROM_OVERRIDE", "exit=3"],
                    "environment": [
                        {"name": "FROM_OVERRIDE", "value": "override"},
                        {"name": "FROM_DEFINITION", "value": "overridden"},
                    ],
                }
            ]
        },
    )
    task, _ = wait_stopped(ecs_env, response["tasks"][0]["taskArn"])
    assert task["containers"][0]["exitCode"] == 3
    assert log_lines(ecs_env, task["taskArn"]) == ["FROM_DEFINITION=overridden", "FROM_OVERRIDE=override"]


def test_provider_waiter_sees_the_stop(ecs_env):
    td = register(ecs_env["ecs"])
    task = run(ecs_env, td, ["sleep=0.5"])
    ecs_env["ecs"].get_waiter("tasks_stopped").wait(
        cluster=CLUSTER, tasks=[task["taskArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def test_stop_task_terminates_the_process(ecs_env):
    td = register(ecs_env["ecs"])
    task = run(ecs_env, td, ["lines=1", "sleep=60"])
    deadline = time.monotonic() + 20
    while (
        ecs_env["ecs"].describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] != "RUNNING"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stopped = ecs_env["ecs"].stop_task(cluster=CLUSTER, task=task["taskArn"], reason="test says stop")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    final, _ = wait_stopped(ecs_env, task["taskArn"], timeout=20)
    assert final["stopCode"] == "UserInitiated"
    assert final["stoppedReason"] == "test says stop"
    assert final["containers"][0]["exitCode"] == 143  # SIGTERM, as docker stop reports it


def test_list_tasks_filters_by_started_by_and_status(ecs_env):
    td = register(ecs_env["ecs"])
    marker = uuid.uuid4().hex[:12]
    task = run(ecs_env, td, ["sleep=0.2"], startedBy=marker)
    listed = ecs_env["ecs"].list_tasks(cluster=CLUSTER, startedBy=marker)["taskArns"]
    assert listed == [task["taskArn"]]
    wait_stopped(ecs_env, task["taskArn"])
    assert ecs_env["ecs"].list_tasks(cluster=CLUSTER, startedBy=marker, desiredStatus="RUNNING")["taskArns"] == []
    assert ecs_env["ecs"].list_tasks(cluster=CLUSTER, startedBy=marker, desiredStatus="STOPPED")["taskArns"] == [
        task["taskArn"]
    ]


def test_unknown_image_fails_to_start_like_a_failed_pull(ecs_env):
    td = register(ecs_env["ecs"], image="123456789012.dkr.ecr.us-east-1.amazonaws.com/not-in-images-toml:1")
    task, _ = wait_stopped(ecs_env, run(ecs_env, td)["taskArn"])
    assert task["stopCode"] == "TaskFailedToStart"
    assert "CannotPullContainerError" in task["stoppedReason"]
    assert "exitCode" not in task["containers"][0]


def test_missing_log_group_fails_to_start(ecs_env):
    td = register(
        ecs_env["ecs"],
        logConfiguration={
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/absent", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p"},
        },
    )
    task, _ = wait_stopped(ecs_env, run(ecs_env, td)["taskArn"])
    assert task["stopCode"] == "TaskFailedToStart"
    assert "ResourceInitializationError" in task["stoppedReason"]
    assert "/ecs/absent" in task["stoppedReason"]


def test_job_fault_makes_the_next_job_fail(stack, ecs_env):
    td = register(ecs_env["ecs"])
    stack.faults.arm_job("localaws-probe", exit_code=7)
    failed, _ = wait_stopped(ecs_env, run(ecs_env, td, ["exit=0"])["taskArn"])
    assert failed["containers"][0]["exitCode"] == 7
    assert any("injected" in line for line in log_lines(ecs_env, failed["taskArn"]))
    healthy, _ = wait_stopped(ecs_env, run(ecs_env, td, ["exit=0"])["taskArn"])
    assert healthy["containers"][0]["exitCode"] == 0


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"cluster": "no-such-cluster"}, "ClusterNotFoundException", "Cluster not found"),
        ({"taskDefinition": "no-such-family:1"}, "ClientException", "TaskDefinition not found"),
        ({"networkConfiguration": None}, "InvalidParameterException", "awsvpc"),
        ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}, "InvalidParameterException", "subnets"),
        ({"count": 11}, "InvalidParameterException", "count"),
    ],
)
def test_run_task_validates_like_ecs(ecs_env, change, code, message):
    params = {
        "cluster": CLUSTER,
        "taskDefinition": register(ecs_env["ecs"]),
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": [ecs_env["subnet"]]}},
        **change,
    }
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as raised:
        ecs_env["ecs"].run_task(**params)
    assert raised.value.response["Error"]["Code"] == code
    assert message in raised.value.response["Error"]["Message"]


def test_override_of_unknown_container_is_rejected(ecs_env):
    with pytest.raises(ClientError) as raised:
        ecs_env["ecs"].run_task(
            cluster=CLUSTER,
            taskDefinition=register(ecs_env["ecs"]),
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [ecs_env["subnet"]]}},
            overrides={"containerOverrides": [{"name": "not-there", "command": ["exit=0"]}]},
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_job_image_whose_python_is_too_old_for_its_code_stops_the_task_with_the_reason(ecs_env, monkeypatch):
    """The raw-ingest image, as if its Dockerfile said FROM python:3.8-slim: the job code needs 3.11."""
    from include import images

    real = images.base_python
    monkeypatch.setattr(images, "base_python", lambda base: ((3, 8), real(base)[1]))
    td = register(ecs_env["ecs"], image="123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-raw-ingest:1")
    task, _ = wait_stopped(ecs_env, run(ecs_env, td)["taskArn"])
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    container = task["containers"][0]
    assert container["exitCode"] == 1
    assert "the image runs Python 3.8, the code needs 3.11" in container["reason"]
    assert "include/jobs/raw_ingest.py" in container["reason"] and "datetime.UTC" in container["reason"]
    assert any("the code needs 3.11" in line for line in log_lines(ecs_env, task["taskArn"]))


def test_empty_log_lines_are_skipped_as_the_awslogs_driver_does(stack):
    """A Python traceback has blank lines; PutLogEvents refuses empty messages, so the sink (like
    Docker's awslogs driver) skips them instead of losing the job's exit."""
    import uuid

    from localaws.jobs import CloudWatchLogSink

    group = f"/test/sink-{uuid.uuid4().hex[:8]}"
    logs = stack.client("logs")
    sink = CloudWatchLogSink(logs, group, "s", create_group=True)
    sink.open()
    for line in ("Traceback (most recent call last):\n", "\n", "ValueError: x\n"):
        sink.write(line)
    sink.flush()
    events = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["Traceback (most recent call last):", "ValueError: x"]


def test_a_task_runs_as_its_task_role_and_without_one_has_no_credentials(ecs_env):
    """The container's SDK gets the task role's session from the credentials endpoint; a task
    definition without a task role gives it none, as on AWS (never the stack's own keys)."""
    # GetCallerIdentity needs no grant; the role's one statement is only there to be a valid policy
    task_role = ecs_role(
        ecs_env["stack"].client("iam"),
        "ecs-test-task",
        [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::ecs-test-nothing"}],
    )
    with_role = run(ecs_env, register(ecs_env["ecs"], task_role=task_role), ["whoami=1"])
    without = run(ecs_env, register(ecs_env["ecs"]), ["whoami=1", "echo=AWS_ACCESS_KEY_ID"])
    task, _ = wait_stopped(ecs_env, with_role["taskArn"])
    assert task["containers"][0]["exitCode"] == 0
    task_id = with_role["taskArn"].rsplit("/", 1)[-1]
    assert f"whoami=arn:aws:sts::123456789012:assumed-role/ecs-test-task/{task_id}" in log_lines(
        ecs_env, with_role["taskArn"]
    )
    wait_stopped(ecs_env, without["taskArn"])
    assert log_lines(ecs_env, without["taskArn"]) == ["AWS_ACCESS_KEY_ID=", "whoami=NoCredentialsError"]


def test_the_awslogs_driver_writes_as_the_execution_role(ecs_env):
    """Without logs:CreateLogStream in the execution role, the task fails to start, as on AWS."""
    no_logs = ecs_role(
        ecs_env["stack"].client("iam"),
        "ecs-test-execution-no-logs",
        [{"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], "Resource": "*"}],
    )
    task, _ = wait_stopped(ecs_env, run(ecs_env, register(ecs_env["ecs"], execution_role=no_logs))["taskArn"])
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger args")
    assert "logs:CreateLogStream" in task["stoppedReason"] and "ecs-test-execution-no-logs" in task["stoppedReason"]


def test_fargate_with_awslogs_needs_an_execution_role(ecs_env):
    with pytest.raises(ClientError, match="execution role ARN to support log driver awslogs"):
        run(ecs_env, register(ecs_env["ecs"], execution_role=None))


def test_capacity_provider_strategy_follows_the_cluster_and_spot_can_run_out(ecs_env):
    """FARGATE_SPOT runs only on a cluster it is associated with, never with a launch type, and
    answers with ECS's capacity failure (no task) when Spot has none."""
    ecs = ecs_env["ecs"]
    td = register(ecs, command=["exit=0"])
    network = {"awsvpcConfiguration": {"subnets": [ecs_env["subnet"]]}}
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    with pytest.raises(ClientError, match="not associated with the cluster"):
        ecs.run_task(cluster=CLUSTER, taskDefinition=td, capacityProviderStrategy=spot, networkConfiguration=network)
    ecs.create_cluster(clusterName=f"{CLUSTER}-spot", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    with pytest.raises(ClientError, match="both a launch type and capacity provider strategy"):
        ecs.run_task(
            cluster=f"{CLUSTER}-spot",
            taskDefinition=td,
            launchType="FARGATE",
            capacityProviderStrategy=spot,
            networkConfiguration=network,
        )
    started = ecs.run_task(
        cluster=f"{CLUSTER}-spot", taskDefinition=td, capacityProviderStrategy=spot, networkConfiguration=network
    )["tasks"][0]
    assert (started["capacityProviderName"], started["launchType"]) == ("FARGATE_SPOT", "FARGATE")

    ecs_env["stack"].backend("ecs", "123456789012", "us-east-1").spot_unavailable = 1
    short = ecs.run_task(
        cluster=f"{CLUSTER}-spot", taskDefinition=td, capacityProviderStrategy=spot, networkConfiguration=network
    )
    assert short["tasks"] == []
    assert short["failures"][0]["reason"].startswith("Capacity is unavailable at this time")
