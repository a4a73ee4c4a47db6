"""Run a containerized job on ECS Fargate and bring its reason for failing into the task log.

The provider's `EcsRunTaskOperator` in deferrable mode reports a failed container only as a dict
of task fields: the job's own error message stays in CloudWatch. `EcsJobOperator` keeps every
provider behaviour (reattach, deferral, stop on kill) and, on a non-zero exit, reads the last log
lines of the container's stream and raises with them (from the public resume method and fields:
the stream name follows the awslogs driver's documented `prefix/container-name/ecs-task-id`).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.exceptions import EcsOperatorError
from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.providers.common.compat.sdk import AirflowException

# ECS's RunTask failure reason when Fargate (Spot) has no capacity for the task right now.
CAPACITY_UNAVAILABLE = "Capacity is unavailable"
SPOT_STRATEGY = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]


def capacity_unavailable(failures: list[dict[str, Any]]) -> bool:
    return bool(failures) and all(CAPACITY_UNAVAILABLE in str(f.get("reason", "")) for f in failures)


class EcsJobOperator(EcsRunTaskOperator):
    """`EcsRunTaskOperator` with project defaults: Fargate, deferrable, reattach, logs on failure.

    `container_name` must be given with `awslogs_group`/`awslogs_stream_prefix`: the provider
    otherwise sleeps 10 s and more after RunTask to discover it.

    `fargate_spot`: run on the cluster's FARGATE_SPOT capacity provider (up to 70% cheaper, may be
    interrupted with a two-minute warning; the task's retries run it again). When RunTask answers
    that Spot has no capacity, the task is started on demand (launch type FARGATE) at once rather
    than failing; any other RunTask failure fails as before.
    """

    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        launch_type: str = "FARGATE",
        deferrable: bool = True,
        reattach: bool = True,
        waiter_delay: int = 10,
        waiter_max_attempts: int = 360,
        number_logs_exception: int = 20,
        fargate_spot: bool = False,
        **kwargs,
    ) -> None:
        self.fargate_spot = fargate_spot
        if fargate_spot:
            kwargs["capacity_provider_strategy"] = SPOT_STRATEGY
        super().__init__(
            launch_type=launch_type,
            deferrable=deferrable,
            reattach=reattach,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            number_logs_exception=number_logs_exception,
            **kwargs,
        )

    def _start_task(self):
        """RunTask, on Fargate Spot when asked, falling back to on-demand Fargate when Spot has no
        capacity (RunTask then returns a failure, no task)."""
        if not self.fargate_spot:
            return super()._start_task()
        self.capacity_provider_strategy = SPOT_STRATEGY
        try:
            return super()._start_task()
        except EcsOperatorError as err:
            if not capacity_unavailable(err.failures):
                raise
            self.log.warning(
                "Fargate Spot has no capacity (%s): starting the task on demand (FARGATE)",
                "; ".join(str(f.get("reason")) for f in err.failures),
            )
        self.capacity_provider_strategy = None
        self.launch_type = "FARGATE"
        return super()._start_task()

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> str | None:
        """The provider's resume, and on a failed container the last lines of its log in the error.

        Only the deferred path needs this: in the worker, the provider's log fetcher already puts
        the last lines into the failure."""
        try:
            return super().execute_complete(context, event)
        except AirflowException as failure:
            if not (self.arn and self.awslogs_group and self.awslogs_stream_prefix):
                raise
            stream = self.log_stream_name()
            lines = self.last_log_lines(self.number_logs_exception)
            for line in lines:
                self.log.error("[%s] %s", self.container_name, line)
            raise type(failure)(
                f"ECS task {self.arn} failed: {failure}\n"
                f"last {len(lines)} log lines of {self.awslogs_group}/{stream}:\n" + "\n".join(lines)
            ) from failure

    def log_stream_name(self) -> str:
        """The awslogs stream of the task's container, `prefix/container-name/ecs-task-id` (as the
        awslogs driver names it), or `prefix/ecs-task-id` when the prefix already ends with the
        container's name or no container is named."""
        task_id = (self.arn or "").rsplit("/", 1)[-1]
        prefix = self.awslogs_stream_prefix
        if self.container_name and not prefix.endswith(f"/{self.container_name}"):
            return f"{prefix}/{self.container_name}/{task_id}"
        return f"{prefix}/{task_id}"

    def last_log_lines(self, count: int) -> list[str]:
        logs = AwsLogsHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.resolve_awslogs_region(),
            verify=self.verify,
            config=self.botocore_config,
        ).conn
        try:
            events = logs.get_log_events(
                logGroupName=self.awslogs_group,
                logStreamName=self.log_stream_name(),
                startFromHead=False,
                limit=count,
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            return ["(the task wrote no log stream: it may have failed before its container started)"]
        return [event["message"] for event in events]


def private_network(stack_outputs: dict[str, str]) -> dict:
    """`networkConfiguration` for a Fargate task in the preprocessing stack's private subnets and
    security groups (outputs `SubnetIds`, `SecurityGroupIds`: comma-separated), no public IP."""
    return {
        "awsvpcConfiguration": {
            "subnets": stack_outputs["SubnetIds"].split(","),
            "securityGroups": [g for g in stack_outputs.get("SecurityGroupIds", "").split(",") if g],
            "assignPublicIp": "DISABLED",
        }
    }
