"""Deferred waits on CloudFormation: a change set being computed, a stack operation running.

Both waiters succeed on any terminal state, failures included: the operator's resume method
then reads the stack events and fails with the resource and reason, which a trigger cannot do.
What the operator needs after the wait travels in the event (`carry`), not in the deferral's
kwargs, so it also survives `dag.test()`, whose inline triggers replace those kwargs.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from mlops.hooks.cloudformation import CloudFormationStackHook


class ChangeSetSettledTrigger(AwsBaseWaiterTrigger):
    aws_hook_class = CloudFormationStackHook

    def __init__(
        self,
        *,
        change_set_id: str,
        carry: dict | None = None,
        waiter_delay: int = 5,
        waiter_max_attempts: int = 120,
        aws_conn_id: str | None = "aws_default",
        **kwargs,
    ) -> None:
        super().__init__(
            serialized_fields={"change_set_id": change_set_id, "carry": carry},
            waiter_name="change_set_settled",
            waiter_args={"ChangeSetName": change_set_id},
            failure_message=f"Change set {change_set_id} could not be created",
            status_message="Change set status",
            status_queries=["Status", "StatusReason"],
            return_key="carry",
            return_value={**(carry or {}), "change_set_id": change_set_id},
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )


class StackSettledTrigger(AwsBaseWaiterTrigger):
    aws_hook_class = CloudFormationStackHook

    def __init__(
        self,
        *,
        stack_name: str,
        carry: dict | None = None,
        waiter_delay: int = 15,
        waiter_max_attempts: int = 240,
        aws_conn_id: str | None = "aws_default",
        **kwargs,
    ) -> None:
        super().__init__(
            serialized_fields={"stack_name": stack_name, "carry": carry},
            waiter_name="stack_settled",
            waiter_args={"StackName": stack_name},
            failure_message=f"Stack {stack_name} did not settle",
            status_message="Stack status",
            status_queries=["Stacks[0].StackStatus", "Stacks[0].StackStatusReason"],
            return_key="carry",
            return_value={**(carry or {}), "stack_name": stack_name},
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )
