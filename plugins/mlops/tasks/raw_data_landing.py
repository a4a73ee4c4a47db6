"""The raw_data_landing DAG's Python steps: plan the landing, then check and announce what landed."""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.stack_outputs import StackOutputsHook

STACK_REQUIRED = ("InputBucket", "ClusterName", "IngestTaskDefinition", "IngestImage", "LogGroupName", "SubnetIds")
STAGING = "raw/_staging/"  # the prefix of infra/preprocessing.yaml's expire-landing-staging rule


def _max_bad_share(aws_conn_id: str) -> str:
    """The share the preprocessing job applies too, so that both refuse the same files."""
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    from include.preprocessing import limits
    from mlops.deployment import current

    parameter = current().max_bad_share_parameter
    value = SsmHook(aws_conn_id=aws_conn_id).get_parameter_value(parameter, default=None)
    if value is None:
        print(f"{parameter} is not set: the job's default {limits.DEFAULT_MAX_BAD_SHARE} applies")
        return str(limits.DEFAULT_MAX_BAD_SHARE)
    return str(limits.parse_share(value, parameter))


def plan(month: str, drop_prefix: str, *, container: str, aws_conn_id: str) -> dict[str, Any]:
    """Everything the run needs, resolved once: URIs and the ECS run spec."""
    from mlops.operators.ecs import private_network
    from mlops.tasks.common import require_image

    drop_prefix = drop_prefix.rstrip("/")
    stack = StackOutputsHook(aws_conn_id=aws_conn_id).get_outputs("preprocessing", required=STACK_REQUIRED)
    require_image(stack["IngestImage"], aws_conn_id)  # the image the task definition runs
    target_prefix = f"s3://{stack['InputBucket']}/raw/online-retail/month={month}/"
    max_bad_share = _max_bad_share(aws_conn_id)
    return {
        "month": month,
        "source_uri": f"{drop_prefix}/{month}.csv.gz",
        "target_prefix": target_prefix,
        "manifest_uri": f"{target_prefix}_manifest.json",
        "cluster": stack["ClusterName"],
        "task_definition": stack["IngestTaskDefinition"],
        "image": stack["IngestImage"],
        "log_group": stack["LogGroupName"],
        "network_configuration": private_network(stack),
        "overrides": {
            "containerOverrides": [
                {
                    "name": container,
                    "environment": [
                        {"name": "MONTH", "value": month},
                        {"name": "SOURCE_URI", "value": f"{drop_prefix}/{month}.csv.gz"},
                        {"name": "CHECKSUMS_URI", "value": f"{drop_prefix}/SHA256SUMS"},
                        {"name": "TARGET_PREFIX", "value": target_prefix},
                        # expired by the input bucket's lifecycle rule when a task dies mid-landing
                        {"name": "STAGING_PREFIX", "value": f"s3://{stack['InputBucket']}/{STAGING}"},
                        {"name": "MAX_BAD_SHARE", "value": max_bad_share},
                    ],
                }
            ]
        },
    }


def landed(plan: dict, *, aws_conn_id: str) -> tuple[dict, dict]:
    """The manifest the job wrote last, checked, and the `online_retail_raw_month` event's extra."""
    bucket, key = S3Hook.parse_s3_url(plan["manifest_uri"])
    manifest = json.loads(S3Hook(aws_conn_id=aws_conn_id).read_key(key, bucket))
    if manifest["month"] != plan["month"] or manifest["rows"] <= 0:
        raise ValueError(f"{plan['manifest_uri']} does not describe a landed month {plan['month']}: {manifest}")
    extra = {
        "month": plan["month"],
        "data_uri": manifest["data_uri"],
        "manifest_uri": plan["manifest_uri"],
        "rows": manifest["rows"],
        "sha256": manifest["sha256"],
    }
    return manifest, extra
