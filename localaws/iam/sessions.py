"""Credentials a service hands the code it runs: the role's session, as STS issues it.

ECS gives a task its task role, SageMaker a training job or model server its execution role, Lambda
a function its role. Each goes through STS AssumeRole here, so the code runs with that role's
temporary credentials (and only its permissions), never with the stack's own. As on AWS, the
service may assume the role only if the role's trust policy allows its service principal.
"""

from __future__ import annotations

from typing import Any

from moto.sts.models import sts_backends

from localaws.iam import principals
from localaws.iam.actions import Check
from localaws.iam.enforcement import request_context
from localaws.wire import AwsError

SESSION_SECONDS = 3600


def assume_role_as_service(
    stack: Any, role_arn: str, service: str, session_name: str, *, source_arn: str | None = None
) -> dict[str, str]:
    """Environment variables carrying `role_arn`'s session for code `service` runs.

    `service` is the service principal the role's trust policy must name (`ecs-tasks.amazonaws.com`,
    `sagemaker.amazonaws.com`, `lambda.amazonaws.com`). The request carries `aws:SourceAccount` (the
    role's account) and, when given, `aws:SourceArn` (the task, job or function it is for), which
    trust policies use against the confused deputy. Raises AwsError AccessDenied when the trust
    policy does not allow it, as AWS refuses to start the task or job.
    """
    account_id = _account_of(role_arn)
    region = getattr(stack, "region", None) or "us-east-1"
    if getattr(stack, "enforce_iam", True):
        caller = principals.service_principal(service, account_id)
        context = request_context(caller, region, secure=True)
        context["aws:SourceAccount"] = [account_id]
        if source_arn:
            context["aws:SourceArn"] = [source_arn]
        check = Check("sts:AssumeRole", role_arn)
        decision = stack.iam.decide(caller, check, context, account_id, region)
        if not decision.allowed:
            raise AwsError(
                "AccessDenied",
                f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}: "
                f"the role's trust policy does not allow the service principal {service}",
                403,
            )
    session = sts_backends[account_id][principals.PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=SESSION_SECONDS,
        external_id=None,
    )
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


def _account_of(role_arn: str) -> str:
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise AwsError("ValidationError", f"{role_arn!r} is not a role ARN", 400)
    return parts[4]
