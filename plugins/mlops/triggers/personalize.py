"""Deferred waits on Amazon Personalize: a resource (or a campaign's update) settling.

The waiters settle on ACTIVE *or* CREATE FAILED: the operator's resume method reads the
failureReason and fails with it, which a trigger's generic error cannot say. `region_name`,
`verify` and `botocore_config` (in `kwargs`) are serialized by the base class and build the hook.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from mlops.hooks.personalize import KINDS, PersonalizeHook


class PersonalizeSettledTrigger(AwsBaseWaiterTrigger):
    aws_hook_class = PersonalizeHook

    def __init__(
        self,
        *,
        kind: str,
        arn: str,
        campaign_update: bool = False,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 480,
        aws_conn_id: str | None = "aws_default",
        **kwargs,
    ) -> None:
        spec = KINDS[kind]
        status = (
            f"{spec.describe_key}.latestCampaignUpdate.status" if campaign_update else f"{spec.describe_key}.status"
        )
        super().__init__(
            serialized_fields={"kind": kind, "arn": arn, "campaign_update": campaign_update},
            waiter_name="campaign_update_settled" if campaign_update else f"{kind}_settled",
            waiter_args={spec.arn_key: arn},
            failure_message=f"Personalize {kind} {arn} did not settle",
            status_message=f"Personalize {kind} status",
            status_queries=[status],
            return_key="arn",
            return_value=arn,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )
