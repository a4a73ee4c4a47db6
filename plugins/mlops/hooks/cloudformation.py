"""CloudFormation through change sets: the hook behind `CloudFormationDeployOperator`.

The provider's `CloudFormationHook` creates and deletes stacks only. Deploying the same template
run after run needs more: a change set for an existing stack (so "no changes" is an answer, not an
error), parameters kept from the previous deployment when not given, the change list for the task
log, and, on failure, the stack events that say which resource failed and why.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.exceptions import ClientError

# CloudFormation accepts a template body up to 51,200 bytes; larger ones must come from S3.
MAX_TEMPLATE_BODY = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# The reasons CloudFormation gives a FAILED change set that merely has nothing to do.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
SUCCESS_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
# States a deployment cannot start from; each says what a person must do.
BLOCKED_STATES = {
    "CREATE_FAILED": "the stack failed to create and was not rolled back; delete it",
    "DELETE_FAILED": "a previous delete failed; fix the resource named in its events and delete the stack",
    "ROLLBACK_FAILED": "the rollback of a failed create failed; delete the stack",
    "UPDATE_ROLLBACK_FAILED": (
        "a rollback failed; run ContinueUpdateRollback after fixing the resource named in its events"
    ),
}


class CloudFormationStackHook(AwsBaseHook):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "cloudformation"
        super().__init__(*args, **kwargs)

    @property
    def waiter_path(self) -> Path:
        """Our waiters (`stack_settled`, `change_set_settled`) treat failures as terminal too, so
        that the operator, not the trigger, reads the events and explains the failure."""
        return Path(__file__).parents[1] / "waiters" / "cloudformation.json"

    def get_stack(self, stack_name: str) -> dict[str, Any] | None:
        try:
            return self.conn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(err):
                return None
            raise

    @staticmethod
    def outputs_of(stack: dict[str, Any]) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def create_change_set(
        self,
        *,
        stack_name: str,
        change_set_name: str,
        template_body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        change_set_type: str,
        previous: dict[str, Any] | None,
        template_bucket: str | None = None,
        role_arn: str | None = None,
    ) -> str:
        """Create the change set; parameters the stack has but `parameters` lacks keep their value.
        `role_arn`: the CloudFormation service role the stack operations run as (`RoleARN`)."""
        declared = self.template_parameters(template_body)
        kept = {p["ParameterKey"] for p in (previous or {}).get("Parameters", [])} & set(declared) - set(parameters)
        unknown = sorted(set(parameters) - set(declared))
        missing = sorted(
            k for k, p in declared.items() if "DefaultValue" not in p and k not in parameters and k not in kept
        )
        if unknown or missing:
            raise ValueError(
                f"parameters of stack {stack_name} do not match its template: "
                + "; ".join(
                    part
                    for part in (
                        f"{unknown} are not declared (declared: {sorted(declared)})" if unknown else "",
                        f"{missing} have no default and were not given" if missing else "",
                    )
                    if part
                )
            )
        cfn_parameters = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(parameters.items())]
        cfn_parameters += [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(kept)]
        request: dict[str, Any] = {
            "StackName": stack_name,
            "ChangeSetName": change_set_name,
            "ChangeSetType": change_set_type,
            "Parameters": cfn_parameters,
            "Capabilities": CAPABILITIES,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            "Description": f"{change_set_type.lower()} by Airflow",
        }
        if role_arn:
            request["RoleARN"] = role_arn
        request.update(self._template_source(stack_name, change_set_name, template_body, template_bucket))
        return self.conn.create_change_set(**request)["Id"]

    def _template_source(self, stack: str, change_set: str, body: str, bucket: str | None) -> dict[str, str]:
        if len(body.encode()) <= MAX_TEMPLATE_BODY:
            return {"TemplateBody": body}
        if not bucket:
            raise ValueError(
                f"template of stack {stack} is {len(body.encode())} bytes, over CloudFormation's "
                f"{MAX_TEMPLATE_BODY}-byte limit for a template body: pass template_bucket to upload it to S3"
            )
        s3 = self.get_client_type("s3")
        key = f"cloudformation/{stack}/{change_set}.yaml"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ServerSideEncryption="AES256")
        region = self.conn_region_name or "us-east-1"
        return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{key}"}

    def template_parameters(self, template_body: str) -> dict[str, Any]:
        return {p["ParameterKey"]: p for p in self.conn.get_template_summary(TemplateBody=template_body)["Parameters"]}

    def describe_change_set(self, change_set_id: str) -> dict[str, Any]:
        pages = self.conn.get_paginator("describe_change_set").paginate(ChangeSetName=change_set_id)
        first: dict[str, Any] | None = None
        for page in pages:
            if first is None:
                first = page
            else:
                first["Changes"].extend(page.get("Changes", []))
        assert first is not None
        return first

    @staticmethod
    def has_no_changes(change_set: dict[str, Any]) -> bool:
        reason = change_set.get("StatusReason") or ""
        return change_set["Status"] == "FAILED" and any(text in reason for text in NO_CHANGES)

    @staticmethod
    def describe_changes(change_set: dict[str, Any]) -> list[str]:
        """One line per resource change, as a reviewer wants to read them."""
        lines = []
        for change in change_set.get("Changes", []):
            rc = change.get("ResourceChange", {})
            replacement = rc.get("Replacement")
            suffix = f" (replacement: {replacement})" if replacement and replacement != "False" else ""
            lines.append(f"{rc.get('Action', '?'):<7} {rc.get('LogicalResourceId')} [{rc.get('ResourceType')}]{suffix}")
        return lines

    def execute_change_set(self, change_set_id: str, token: str) -> None:
        self.conn.execute_change_set(ChangeSetName=change_set_id, ClientRequestToken=token)

    def delete_stack(self, stack_name: str, role_arn: str | None = None) -> None:
        self.conn.delete_stack(StackName=stack_name, **({"RoleARN": role_arn} if role_arn else {}))

    def stack_resources(self, stack_name: str) -> list[dict[str, Any]]:
        """The stack's resources (all pages): what a teardown checks for retained ones afterwards."""
        pages = self.conn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        return [summary for page in pages for summary in page["StackResourceSummaries"]]

    def delete_change_set(self, change_set_id: str) -> None:
        self.conn.delete_change_set(ChangeSetName=change_set_id)

    def failure_events(self, stack_name: str, since: datetime | None = None, limit: int = 20) -> list[str]:
        """The events that explain a failed deployment, oldest first: each failed resource and why."""
        lines: list[str] = []
        for page in self.conn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
            for event in page["StackEvents"]:  # newest first
                if since is not None and event["Timestamp"] < since:
                    break
                status = event.get("ResourceStatus", "")
                reason = event.get("ResourceStatusReason")
                if reason and (status.endswith("_FAILED") or "ROLLBACK" in status):
                    lines.append(f"{event['LogicalResourceId']} [{event.get('ResourceType')}] {status}: {reason}")
            else:
                continue
            break
        return list(reversed(lines[:limit]))


def change_set_name_for(run_id: str, try_number: int) -> str:
    """Change set names allow [a-zA-Z][-a-zA-Z0-9]*, at most 128 characters."""
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", run_id).strip("-")
    return f"airflow-{cleaned}-try{try_number}"[:128].rstrip("-")
