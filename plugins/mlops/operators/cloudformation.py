"""Deploy a CloudFormation stack idempotently, and publish its outputs where DAGs read them.

`CloudFormationDeployOperator` creates the stack when absent and otherwise computes a change set:
no changes means nothing is executed (and the log says so), changes are listed, then executed.
Every wait (change set computation, stack operation) is deferred. A failed deployment fails the
task with the stack events that name the failed resources and their reasons. The provider's
CloudFormation operators only create or delete and cannot tell "nothing to do" from an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from mlops.hooks.cloudformation import (
    BLOCKED_STATES,
    SUCCESS_STATES,
    CloudFormationStackHook,
    change_set_name_for,
)
from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.triggers.cloudformation import ChangeSetSettledTrigger, StackSettledTrigger


class CloudFormationDeployOperator(AwsBaseOperator[CloudFormationStackHook]):
    """Create or update `stack_name` from a template; returns the deployment and its outputs.

    :param stack_name: the stack to create or update.
    :param template_file: path of the template: absolute, or relative to the parent of the DAG's
        folder (project layout) or to the DAG's folder itself (MWAA, where only dags/ is shipped).
    :param template_body: the template text, instead of `template_file`.
    :param parameters: parameter values; parameters of an existing stack not given here keep their
        previous values, others take the template's defaults.
    :param tags: stack tags (propagated by CloudFormation to the resources that support them).
    :param recover_rollback_complete: a stack whose first create failed sits in ROLLBACK_COMPLETE
        and can only be deleted; when True it is deleted and created again, otherwise the task fails.
    :param template_bucket: bucket for templates over 51,200 bytes.
    :param role_arn: the CloudFormation service role (`RoleARN`) the stack's operations run as, so
        the caller needs `iam:PassRole` on it rather than the rights to create every resource
        (infra/deployer.yaml). Empty: CloudFormation uses the caller's own credentials.
    """

    aws_hook_class = CloudFormationStackHook
    template_fields: Sequence[str] = aws_template_fields(
        "stack_name",
        "template_file",
        "template_body",
        "parameters",
        "tags",
        "template_bucket",
        "recover_rollback_complete",
        "role_arn",
    )
    template_fields_renderers = {"parameters": "json", "tags": "json", "template_body": "yaml"}
    ui_color = "#f6e6c9"

    def __init__(
        self,
        *,
        stack_name: str,
        template_file: str | None = None,
        template_body: str | None = None,
        parameters: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        recover_rollback_complete: bool = False,
        template_bucket: str | None = None,
        role_arn: str | None = None,
        deferrable: bool = True,
        waiter_delay: int = 15,
        waiter_max_attempts: int = 240,
        change_set_delay: int = 5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if (template_file is None) == (template_body is None):
            raise ValueError(f"{self.task_id}: give exactly one of template_file and template_body")
        self.stack_name = stack_name
        self.template_file = template_file
        self.template_body = template_body
        self.parameters = parameters or {}
        self.tags = tags or {}
        self.recover_rollback_complete = recover_rollback_complete
        self.template_bucket = template_bucket
        self.role_arn = role_arn
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.change_set_delay = change_set_delay

    # --- step 1: look at the stack, start the right operation --------------------------------
    def execute(self, context) -> dict[str, Any]:
        stack = self.hook.get_stack(self.stack_name)
        status = stack["StackStatus"] if stack else None
        if status == "ROLLBACK_COMPLETE":
            return self._recover(context)
        if status in BLOCKED_STATES:
            raise AirflowException(f"stack {self.stack_name} is {status}: {BLOCKED_STATES[status]}")
        if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            self.log.info("Stack %s is %s: waiting for that operation before deploying", self.stack_name, status)
            return self._wait_stack(context, "resume", {})

        change_set_type = "UPDATE" if stack and status != "REVIEW_IN_PROGRESS" else "CREATE"
        ti = context["ti"]
        try:
            change_set_id = self.hook.create_change_set(
                stack_name=self.stack_name,
                change_set_name=change_set_name_for(context["run_id"], ti.try_number),
                template_body=self._template(),
                parameters={k: v for k, v in self.parameters.items() if v is not None},
                tags=self.tags,
                change_set_type=change_set_type,
                previous=stack if change_set_type == "UPDATE" else None,
                template_bucket=self.template_bucket,
                role_arn=self.role_arn or None,
            )
        except ValueError as bad_input:  # retrying cannot fix a template/parameter mismatch
            raise AirflowFailException(str(bad_input)) from bad_input
        self.log.info("Created %s change set %s", change_set_type, change_set_id)
        if self.deferrable:
            self.defer(
                trigger=ChangeSetSettledTrigger(
                    change_set_id=change_set_id,
                    carry={"change_set_type": change_set_type},
                    waiter_delay=self.change_set_delay,
                    waiter_max_attempts=max(1, 600 // max(1, self.change_set_delay)),
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="change_set_ready",
            )
        self.hook.get_waiter("change_set_settled").wait(
            ChangeSetName=change_set_id, WaiterConfig={"Delay": self.change_set_delay, "MaxAttempts": 120}
        )
        carry = {"change_set_id": change_set_id, "change_set_type": change_set_type}
        return self.change_set_ready(context, {"status": "success", "carry": carry})

    def resume(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """After waiting for another operation (or a recovery delete), start over: it may be done."""
        self._check_event(event)
        return self.execute(context)

    # --- step 2: the change set is computed ----------------------------------------------------
    def change_set_ready(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        carry = self._check_event(event)
        change_set = self.hook.describe_change_set(carry["change_set_id"])
        if self.hook.has_no_changes(change_set):
            self.hook.delete_change_set(change_set["ChangeSetId"])
            self.log.info("Stack %s is up to date: the template and parameters hold no changes", self.stack_name)
            return self._result("unchanged", self.hook.get_stack(self.stack_name))
        if change_set["Status"] != "CREATE_COMPLETE":
            raise AirflowException(
                f"change set {change_set['ChangeSetName']} of stack {self.stack_name} is {change_set['Status']}: "
                f"{change_set.get('StatusReason') or 'no reason given'}"
            )
        changes = self.hook.describe_changes(change_set)
        self.log.info("Executing %d change(s) on %s:\n%s", len(changes), self.stack_name, "\n".join(changes))
        self.hook.execute_change_set(change_set["ChangeSetId"], token=change_set["ChangeSetName"])
        since = change_set["CreationTime"].isoformat()
        action = "created" if carry["change_set_type"] == "CREATE" else "updated"
        return self._wait_stack(context, "stack_settled", {"since": since, "action": action})

    # --- step 3: the stack operation ended -----------------------------------------------------
    def stack_settled(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        carry = self._check_event(event)
        since, action = carry.get("since"), carry.get("action", "updated")
        stack = self.hook.get_stack(self.stack_name)
        status = stack["StackStatus"] if stack else "DELETED"
        if status in SUCCESS_STATES:
            return self._result(action, stack)
        reasons = self.hook.failure_events(self.stack_name, datetime.fromisoformat(since) if since else None)
        raise AirflowException(
            f"deployment of stack {self.stack_name} ended in {status}"
            + (f" ({stack.get('StackStatusReason')})" if stack and stack.get("StackStatusReason") else "")
            + (":\n  " + "\n  ".join(reasons) if reasons else "")
        )

    # --- helpers -------------------------------------------------------------------------------
    def _recover(self, context) -> dict[str, Any]:
        reasons = self.hook.failure_events(self.stack_name)
        if str(self.recover_rollback_complete).lower() != "true":
            raise AirflowException(
                f"stack {self.stack_name} is ROLLBACK_COMPLETE (its creation failed) and can only be deleted; "
                "trigger again with recover_rollback_complete to delete and recreate it. Earlier failure:\n  "
                + "\n  ".join(reasons or ["(no failure events found)"])
            )
        self.log.warning("Deleting %s (ROLLBACK_COMPLETE) to create it again", self.stack_name)
        self.hook.delete_stack(self.stack_name, role_arn=self.role_arn or None)
        return self._wait_stack(context, "resume", {})

    def _wait_stack(self, context, method_name: str, carry: dict[str, Any]) -> dict[str, Any]:
        if self.deferrable:
            self.defer(
                trigger=StackSettledTrigger(
                    stack_name=self.stack_name,
                    carry=carry,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name=method_name,
            )
        self.hook.get_waiter("stack_settled").wait(
            StackName=self.stack_name,
            WaiterConfig={"Delay": self.waiter_delay, "MaxAttempts": self.waiter_max_attempts},
        )
        return getattr(self, method_name)(context, {"status": "success", "carry": carry})

    def _template(self) -> str:
        if self.template_body is not None:
            return self.template_body
        path = Path(self.template_file)
        candidates = [path]
        if not path.is_absolute() and self.has_dag():
            # beside dags/ (Astro, compose, local) or inside it (MWAA ships only the dags folder)
            dag_folder = Path(self.dag.fileloc).resolve().parent
            candidates = [dag_folder.parent / path, dag_folder / path]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.read_text()
        raise AirflowFailException(
            f"template {self.template_file} of stack {self.stack_name} not found (looked in "
            + ", ".join(map(str, candidates))
            + ")"
        )

    @staticmethod
    def _check_event(event: dict[str, Any] | None) -> dict[str, Any]:
        if event is None or event.get("status") != "success":
            raise AirflowException(f"waiting on CloudFormation failed: {(event or {}).get('message', event)}")
        return event.get("carry") or {}

    def _result(self, action: str, stack: dict[str, Any] | None) -> dict[str, Any]:
        assert stack is not None
        outputs = self.hook.outputs_of(stack)
        self.log.info("Stack %s %s (%s), %d output(s)", self.stack_name, action, stack["StackStatus"], len(outputs))
        return {
            "stack_name": self.stack_name,
            "stack_id": stack["StackId"],
            "status": stack["StackStatus"],
            "action": action,
            "outputs": outputs,
        }


class PublishStackOutputsOperator(AwsBaseOperator[StackOutputsHook]):
    """Copy a stack's outputs (read from CloudFormation, the source of truth) to SSM under
    `<outputs_prefix>/<stack_key>/<OutputKey>` (by default this Airflow's deployment's,
    `/<project>/<env>/stacks`), where DAGs read them; a rerun writes nothing."""

    aws_hook_class = StackOutputsHook
    template_fields: Sequence[str] = aws_template_fields("stack_name", "stack_key", "outputs_prefix")

    def __init__(self, *, stack_name: str, stack_key: str, outputs_prefix: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stack_name = stack_name
        self.stack_key = stack_key
        self.outputs_prefix = outputs_prefix

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "prefix": self.outputs_prefix or None}

    def execute(self, context) -> dict[str, Any]:
        cfn = CloudFormationStackHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )
        stack = cfn.get_stack(self.stack_name)
        if stack is None or stack["StackStatus"] not in SUCCESS_STATES:
            state = stack["StackStatus"] if stack else "absent"
            raise AirflowException(f"stack {self.stack_name} is {state}: no outputs to publish")
        outputs = cfn.outputs_of(stack)
        changes = self.hook.put_outputs(self.stack_key, outputs)
        self.log.info(
            "Outputs of %s under %s/%s: %d written, %d unchanged, %d deleted",
            self.stack_name,
            self.hook.prefix,
            self.stack_key,
            len(changes["written"]),
            len(changes["unchanged"]),
            len(changes["deleted"]),
        )
        return {"outputs": outputs, **changes}
