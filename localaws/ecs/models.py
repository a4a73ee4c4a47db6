"""ECS tasks that really run: state and lifecycle of tasks started by RunTask.

moto keeps clusters and task definitions (read back through its public API); this module owns the
tasks, because moto 5.2.5's RunTask fails for Fargate with awsvpc and cannot run anything.
Lifecycle: PENDING (pull delay) -> RUNNING (process alive) -> STOPPED (exit code, stop reason).

Identities, as ECS uses them: the containers get the task role's session (`taskRoleArn`) from the
credentials endpoint, or no credentials when the definition has no task role; what the agent does
for the task - the registry check before the pull and the awslogs driver - runs as the execution
role (`executionRoleArn`), so a missing grant there fails the task the way it fails on AWS.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localaws.backends import AccountBackend
from localaws.credentials import RoleSession
from localaws.events import delivery
from localaws.jobs import (
    CloudWatchLogSink,
    JobProcess,
    UnknownImage,
    container_argv,
    image_refusal,
    job_environment,
)
from localaws.wire import AwsError

PENDING_SECONDS = 0.5
ECS_TASKS = "ecs-tasks.amazonaws.com"
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?::([^@]+))?(?:@(.+))?$")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    name: str
    image: str
    definition: dict[str, Any]
    task_arn: str
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    arn: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "containerArn": self.arn,
            "taskArn": self.task_arn,
            "name": self.name,
            "image": self.image,
            "lastStatus": self.last_status,
            "networkInterfaces": [],
            "cpu": str(self.definition.get("cpu", 0)),
        }
        if self.definition.get("memory") is not None:
            out["memory"] = str(self.definition["memory"])
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Task:
    arn: str
    cluster_arn: str
    task_definition: dict[str, Any]
    launch_type: str
    overrides: dict[str, Any]
    started_by: str | None
    group: str | None
    tags: list[dict[str, str]]
    subnet_ids: list[str]
    containers: list[Container] = field(default_factory=list)
    last_status: str = "PENDING"
    desired_status: str = "RUNNING"
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    processes: list[JobProcess] = field(default_factory=list)
    capacity_provider: str | None = None
    version: int = 1
    execution_session: RoleSession | None = None
    credential_ids: list[str] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def describe(self) -> dict[str, Any]:
        td = self.task_definition
        out: dict[str, Any] = {
            "taskArn": self.arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": td["taskDefinitionArn"],
            "overrides": {"containerOverrides": self.overrides.get("containerOverrides", [])},
            "lastStatus": self.last_status,
            "desiredStatus": self.desired_status,
            "containers": [c.describe() for c in self.containers],
            "launchType": self.launch_type,
            "createdAt": self.created_at,
            "version": self.version,
            "tags": self.tags,
            "group": self.group or f"family:{td['family']}",
            "availabilityZone": "us-east-1a",
            "connectivity": "CONNECTED",
            "enableExecuteCommand": False,
        }
        for key, value in (("cpu", td.get("cpu")), ("memory", td.get("memory")), ("startedBy", self.started_by)):
            if value is not None:
                out[key] = value
        if self.capacity_provider:
            out["capacityProviderName"] = self.capacity_provider
        if self.launch_type == "FARGATE":
            out["platformVersion"] = "1.4.0"
            out["platformFamily"] = "Linux"
        if td.get("networkMode") == "awsvpc":
            eni = "eni-" + uuid.uuid5(uuid.NAMESPACE_URL, self.arn).hex[:17]
            out["attachments"] = [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.arn + "/eni")),
                    "type": "ElasticNetworkInterface",
                    "status": "DELETED" if self.last_status == "STOPPED" else "ATTACHED",
                    "details": [
                        {"name": "subnetId", "value": self.subnet_ids[0]},
                        {"name": "networkInterfaceId", "value": eni},
                        {"name": "privateIPv4Address", "value": "127.0.0.1"},
                    ],
                }
            ]
        for key, value in (
            ("startedAt", self.started_at),
            ("stoppingAt", self.stopping_at),
            ("stoppedAt", self.stopped_at),
            ("executionStoppedAt", self.stopped_at),
            ("stopCode", self.stop_code),
            ("stoppedReason", self.stopped_reason),
        ):
            if value is not None:
                out[key] = value
        return out


SPOT_UNAVAILABLE = "Capacity is unavailable at this time. Please try again later or in a different availability zone"


class EcsTaskBackend(AccountBackend):
    """Tasks of one account and region. `stack` gives the loopback clients and the fault injector."""

    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.tasks: dict[str, Task] = {}
        # RunTask calls that find no Fargate Spot capacity (set by tests): ECS then answers with a
        # failure "Capacity is unavailable at this time..." instead of a task, as AWS does.
        self.spot_unavailable = 0

    # --- RunTask -------------------------------------------------------------------------------
    def run_task(self, params: dict[str, Any]) -> tuple[list[Task], list[dict[str, str]]]:
        """The tasks started, and the failures (capacity) that started none."""
        ecs = self.stack.client("ecs", self.region)
        cluster = self._cluster(ecs, params.get("cluster", "default"))
        td = self._task_definition(ecs, params["taskDefinition"])
        provider = self._capacity_provider(cluster, params)
        if provider == "FARGATE_SPOT":
            with self._lock:
                short, self.spot_unavailable = self.spot_unavailable > 0, max(0, self.spot_unavailable - 1)
            if short:
                return [], [{"arn": cluster["clusterArn"], "reason": SPOT_UNAVAILABLE}]
        launch_type = params.get("launchType") or ("FARGATE" if provider else "EC2")
        subnets = self._validate_launch(td, launch_type, params.get("networkConfiguration"))
        overrides = params.get("overrides") or {}
        by_name = {c["name"]: c for c in td["containerDefinitions"]}
        for override in overrides.get("containerOverrides", []):
            if override.get("name") not in by_name:
                raise AwsError(
                    "InvalidParameterException",
                    f"Override for container named {override.get('name')} is not a container in the TaskDefinition.",
                )
        count = params.get("count", 1)
        if not 1 <= count <= 10:
            raise AwsError("InvalidParameterException", "count must be between 1 and 10.")
        tasks = [self._new_task(cluster, td, launch_type, overrides, params, subnets) for _ in range(count)]
        for task in tasks:
            task.capacity_provider = provider
            threading.Timer(PENDING_SECONDS, self._start, args=(task,)).start()
        return tasks, []

    @staticmethod
    def _capacity_provider(cluster: dict[str, Any], params: dict[str, Any]) -> str | None:
        """The provider a capacity provider strategy places the task on: the one with a `base`, else
        the heaviest; each must be associated with the cluster, and not given with a launch type."""
        strategy = params.get("capacityProviderStrategy") or []
        if not strategy:
            return None
        if params.get("launchType"):
            raise AwsError(
                "InvalidParameterException",
                "Specifying both a launch type and capacity provider strategy is not supported.",
            )
        associated = cluster.get("capacityProviders") or []
        for item in strategy:
            if item.get("capacityProvider") not in associated:
                raise AwsError(
                    "InvalidParameterException",
                    "The specified capacity provider strategy cannot contain a capacity provider that is not "
                    "associated with the cluster. Associate the capacity provider with the cluster or specify "
                    "a valid capacity provider and try again.",
                )
        based = [i for i in strategy if int(i.get("base", 0)) > 0]
        chosen = based[0] if based else max(strategy, key=lambda i: int(i.get("weight", 0)))
        return chosen["capacityProvider"]

    def _cluster(self, ecs, name: str) -> dict[str, Any]:
        clusters = ecs.describe_clusters(clusters=[name])["clusters"]
        if not clusters or clusters[0].get("status") != "ACTIVE":
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        return clusters[0]

    def _task_definition(self, ecs, ref: str) -> dict[str, Any]:
        try:
            return ecs.describe_task_definition(taskDefinition=ref)["taskDefinition"]
        except ecs.exceptions.ClientException as err:
            raise AwsError("ClientException", "TaskDefinition not found.") from err

    @staticmethod
    def _validate_launch(td: dict, launch_type: str, network: dict | None) -> list[str]:
        if launch_type == "FARGATE" and "FARGATE" not in td.get("requiresCompatibilities", []):
            raise AwsError(
                "InvalidParameterException",
                "Task definition does not support launch_type FARGATE.",
            )
        if launch_type == "FARGATE" and not td.get("executionRoleArn"):
            # Registration-time checks on AWS; moto registers such definitions, so the run says it.
            for container in td["containerDefinitions"]:
                if (container.get("logConfiguration") or {}).get("logDriver") == "awslogs":
                    raise AwsError(
                        "ClientException",
                        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                    )
                if _ECR_IMAGE.match(container["image"]):
                    raise AwsError(
                        "ClientException",
                        "Fargate requires task definition to have execution role ARN to support ECR images.",
                    )
        for level in ("cpu", "memory"):
            if launch_type == "FARGATE" and not td.get(level):
                # AWS refuses this at registration; moto registers it, so the run is where we say it.
                raise AwsError("ClientException", f"Fargate requires that '{level}' be defined at the task level.")
        if td.get("networkMode") != "awsvpc":
            return ["subnet-local"]
        if not network or "awsvpcConfiguration" not in network:
            raise AwsError(
                "InvalidParameterException",
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            )
        subnets = network["awsvpcConfiguration"].get("subnets") or []
        if not subnets:
            raise AwsError("InvalidParameterException", "subnets can not be empty.")
        return subnets

    def _new_task(self, cluster, td, launch_type, overrides, params, subnets) -> Task:
        cluster_name = cluster["clusterName"]
        task_id = uuid.uuid4().hex
        arn = f"arn:aws:ecs:{self.region}:{self.account_id}:task/{cluster_name}/{task_id}"
        task = Task(
            arn=arn,
            cluster_arn=cluster["clusterArn"],
            task_definition=td,
            launch_type=launch_type,
            overrides=overrides,
            started_by=params.get("startedBy"),
            group=params.get("group"),
            tags=params.get("tags", []),
            subnet_ids=subnets,
        )
        for definition in td["containerDefinitions"]:
            task.containers.append(
                Container(
                    name=definition["name"],
                    image=definition["image"],
                    definition=definition,
                    task_arn=arn,
                    arn=f"arn:aws:ecs:{self.region}:{self.account_id}:container/{cluster_name}/{task_id}/{uuid.uuid4()}",
                )
            )
        with self._lock:
            self.tasks[arn] = task
        return task

    # --- the task's life ----------------------------------------------------------------------
    def _start(self, task: Task) -> None:
        with self._lock:
            if task.desired_status == "STOPPED":
                return
            pending = {c.name for c in task.containers}
        overrides = {o["name"]: o for o in task.overrides.get("containerOverrides", [])}
        td = task.task_definition
        if td.get("executionRoleArn"):
            task.execution_session = self.stack.role_session(td["executionRoleArn"], ECS_TASKS, task.task_id, task.arn)
        try:
            credentials = self._task_credentials(task)
            for container in task.containers:
                process = self._process_for(task, container, overrides.get(container.name, {}), pending, credentials)
                task.processes.append(process)
        except _StartFailure as failure:
            self._release(task)
            self._fail_to_start(task, failure.container, str(failure))
            return
        with self._lock:
            task.last_status = "RUNNING"
            task.started_at = _now()
            task.version += 1
            for container in task.containers:
                container.last_status = "RUNNING"
        self._state_changed(task)
        for process in task.processes:
            process.start()

    def _task_credentials(self, task: Task) -> dict[str, str] | None:
        """The containers' credentials: the task role's session from the credentials endpoint
        (None without a task role: the SDK in the container then finds none, as on AWS)."""
        role = task.task_definition.get("taskRoleArn")
        if not role:
            return None
        session = self.stack.role_session(role, ECS_TASKS, task.task_id, task.arn)
        try:
            session.current()  # the agent assumes the role before starting the containers
        except Exception as err:
            raise _StartFailure(
                task.containers[0],
                f"ResourceInitializationError: failed to assume the task role {role}: {_error_text(err)}",
            ) from err
        ident, env = self.stack.credentials.register(session)
        task.credential_ids.append(ident)
        return env

    def _release(self, task: Task) -> None:
        for ident in task.credential_ids:
            self.stack.credentials.unregister(ident)

    def _check_pull(self, task: Task, container: Container) -> None:
        """What the agent does before pulling from ECR, as the execution role: the registry's
        authorization token and the image manifest. Only a refusal stops the task here; the image
        itself is the local stand-in from images.toml."""
        match = _ECR_IMAGE.match(container.image)
        if match is None or task.execution_session is None:
            return
        _, region, repository, tag, digest = match.groups()
        ecr = task.execution_session.client("ecr", region)
        try:
            ecr.get_authorization_token()
        except ecr.exceptions.ClientError as err:
            if _denied(err):
                raise _StartFailure(
                    container,
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                    "retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 "
                    f"time(s): {_error_text(err)}",
                ) from err
            raise
        image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
        try:
            ecr.batch_get_image(repositoryName=repository, imageIds=[image_id])
        except ecr.exceptions.ClientError as err:
            if _denied(err):
                raise _StartFailure(
                    container,
                    f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
                    f"ref {container.image}: {_error_text(err)}",
                ) from err
            # a repository or image moto does not have: the local entry point stands in for it

    def _process_for(
        self, task: Task, container: Container, override: dict, pending: set[str], credentials: dict[str, str] | None
    ) -> JobProcess:
        definition = container.definition
        env = {e["name"]: e["value"] for e in definition.get("environment", [])}
        env.update({e["name"]: e["value"] for e in override.get("environment", [])})
        env["ECS_TASK_ARN"] = task.arn
        fault = self.stack.faults.take_job_fault(container.image, task.task_definition["family"])
        try:
            if fault is not None:
                argv = [
                    "python3",
                    "-c",
                    f"import sys; print({fault.message!r}, flush=True); sys.exit({fault.exit_code})",
                ]
            else:
                argv = container_argv(
                    container.image, definition.get("entryPoint"), override.get("command") or definition.get("command")
                )
        except UnknownImage as err:
            raise _StartFailure(
                container,
                f"CannotPullContainerError: pull image manifest has been retried 5 time(s): {err}",
            ) from err
        self._check_pull(task, container)
        refusal = image_refusal(container.image) if fault is None else None
        if refusal is not None:
            # As on AWS: the container starts, its Python fails on the code, the essential container
            # exits 1 (stoppedReason "Essential container in task exited"); the log and the
            # container's reason say why.
            container.reason = refusal[:255]
            argv = ["python3", "-c", f"import sys; print({refusal!r}, flush=True); sys.exit(1)"]
        sink = self._log_sink(task, container)

        def on_exit(code: int) -> None:
            self._container_exited(task, container, code, pending)

        return JobProcess(
            argv=argv,
            env=job_environment(self.stack.url, self.region, env, credentials, self.stack.ca_bundle),
            sink=sink,
            on_exit=on_exit,
        )

    def _log_sink(self, task: Task, container: Container) -> CloudWatchLogSink | None:
        config = container.definition.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options", {})
        group = options.get("awslogs-group")
        prefix = options.get("awslogs-stream-prefix")
        if not group:
            raise _StartFailure(
                container, "ResourceInitializationError: awslogs-group is required by the awslogs driver"
            )
        region = options.get("awslogs-region", self.region)
        stream = f"{prefix}/{container.name}/{task.task_id}" if prefix else task.task_id
        if task.execution_session is None:  # EC2 launch type: the container instance's role
            logs = self.stack.client("logs", region)
        else:  # the awslogs driver writes with the task's execution role
            logs = task.execution_session.client("logs", region)
        sink = CloudWatchLogSink(
            logs,
            group,
            stream,
            create_group=options.get("awslogs-create-group") == "true",
        )
        try:
            sink.open()
        except Exception as err:
            raise _StartFailure(
                container,
                f"ResourceInitializationError: failed to validate logger args: "
                f"The specified log group {group} does not exist or cannot be written: {_error_text(err)}",
            ) from err
        return sink

    def _container_exited(self, task: Task, container: Container, code: int, pending: set[str]) -> None:
        with self._lock:
            container.exit_code = code
            container.last_status = "STOPPED"
            pending.discard(container.name)
            if not pending:
                self._release(task)
            essential = container.definition.get("essential", True)
            if task.stop_code is None and essential:
                task.stop_code = "EssentialContainerExited"
                task.stopped_reason = "Essential container in task exited"
            if not pending or essential:
                self._stopped(task)
        if essential:
            for process in task.processes:
                threading.Thread(target=process.stop, daemon=True).start()

    def _fail_to_start(self, task: Task, container: Container, reason: str) -> None:
        with self._lock:
            for c in task.containers:
                c.last_status = "STOPPED"
            container.reason = reason
            task.stop_code = "TaskFailedToStart"
            task.stopped_reason = reason
            self._stopped(task)

    def _stopped(self, task: Task) -> None:
        now = _now()
        task.stopping_at = task.stopping_at or now
        task.stopped_at = now
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.version += 1
        self._state_changed(task)

    def _state_changed(self, task: Task) -> None:
        """ECS's `ECS Task State Change` event on the default bus (what `infra/` rules match)."""
        detail = delivery.jsonable(task.describe(), delivery.iso_millis)
        detail["updatedAt"] = delivery.iso_millis(_now())
        delivery.emit(self.account_id, self.region, "aws.ecs", "ECS Task State Change", detail, [task.arn])

    # --- DescribeTasks / ListTasks / StopTask --------------------------------------------------
    def describe(self, cluster: str, arns: list[str]) -> tuple[list[Task], list[dict[str, str]]]:
        found, failures = [], []
        with self._lock:
            for ref in arns:
                task = self._find(cluster, ref)
                if task is None:
                    failures.append({"arn": ref, "reason": "MISSING"})
                else:
                    found.append(task)
        return found, failures

    def list(self, params: dict[str, Any]) -> list[str]:
        cluster = params.get("cluster", "default")
        desired = params.get("desiredStatus")
        with self._lock:
            tasks = [t for t in self.tasks.values() if _same_cluster(t.cluster_arn, cluster)]
        if desired:
            tasks = [t for t in tasks if t.desired_status == desired]
        elif not params.get("startedBy"):
            tasks = [t for t in tasks if t.desired_status == "RUNNING"]
        if params.get("startedBy"):
            tasks = [t for t in tasks if t.started_by == params["startedBy"]]
        if params.get("family"):
            tasks = [t for t in tasks if t.task_definition["family"] == params["family"]]
        return [t.arn for t in tasks]

    def stop(self, cluster: str, ref: str, reason: str | None) -> Task:
        with self._lock:
            task = self._find(cluster, ref)
            if task is None:
                raise AwsError("InvalidParameterException", "The referenced task was not found.")
            if task.desired_status != "STOPPED":
                task.desired_status = "STOPPED"
                task.stopping_at = _now()
                task.stop_code = "UserInitiated"
                task.stopped_reason = reason or "Task stopped by user"
                if task.last_status == "PENDING":
                    for c in task.containers:
                        c.last_status = "STOPPED"
                    self._stopped(task)
        for process in task.processes:
            threading.Thread(target=process.stop, daemon=True).start()
        return task

    def _find(self, cluster: str, ref: str) -> Task | None:
        if ref in self.tasks:
            task = self.tasks[ref]
        else:
            task = next((t for t in self.tasks.values() if t.task_id == ref.rsplit("/", 1)[-1]), None)
        if task is not None and not _same_cluster(task.cluster_arn, cluster):
            return None
        return task

    def shutdown(self) -> None:
        with self._lock:
            tasks = [t for t in self.tasks.values() if t.last_status != "STOPPED"]
        for task in tasks:
            self.stop(task.cluster_arn, task.arn, "Local stack shut down")
        for task in tasks:
            for process in task.processes:
                process.stop(grace_seconds=5)

    def wait_all(self, timeout: float = 30.0) -> None:
        """For tests and shutdown: wait until every task has stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(t.last_status == "STOPPED" for t in self.tasks.values()):
                    return
            time.sleep(0.05 + random.random() * 0.05)


class _StartFailure(Exception):
    def __init__(self, container: Container, message: str) -> None:
        super().__init__(message)
        self.container = container


def _denied(err: Exception) -> bool:
    code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
    return code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def _error_text(err: Exception) -> str:
    """`Code: message`, as the agent reports an AWS error."""
    error = getattr(err, "response", {}).get("Error", {})
    return f"{error['Code']}: {error.get('Message', '')}" if error.get("Code") else str(err)


def _same_cluster(cluster_arn: str, ref: str) -> bool:
    return ref in (cluster_arn, cluster_arn.rsplit("/", 1)[-1])
