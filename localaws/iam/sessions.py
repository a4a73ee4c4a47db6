"""Credentials a service hands the code it runs: the role's session, as STS issues it.

ECS gives a task its task role, SageMaker a training job or model server its execution role, Lambda
a function its role. Each goes through STS AssumeRole here, so the code runs with that role's
temporary credentials (and only its permissions), never with the stack's own.
"""

from __future__ import annotations

from typing import Any


def assume_role_as_service(stack: Any, role_arn: str, service: str, session_name: str) -> dict[str, str]:
    """Environment variables carrying `role_arn`'s session for code `service` runs.

    `service` is the service principal the role's trust policy must name (`ecs-tasks.amazonaws.com`,
    `sagemaker.amazonaws.com`, `lambda.amazonaws.com`).
    """
    sts = stack.client("sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
