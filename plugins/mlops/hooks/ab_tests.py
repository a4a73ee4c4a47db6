"""The A/B test ledger (DynamoDB table of the serving stack) and the metrics a test decides on.

One item per test, key (endpoint_name, test_id), test_id naming the two model versions: a rerun of
the DAG run, or a second trigger for the same challenger, resumes the same test instead of
starting another. Figures are stored as JSON text (DynamoDB has no floats).

Conversion contract (the application's side): for every recommendation response it shows, the
application puts `Impressions` = 1 and, when the customer buys a recommended item within the
session window, `Conversions` = 1, in the serving stack's `ConversionNamespace`, with dimensions
`EndpointName` and `VariantName` (from InvokeEndpoint's `InvokedProductionVariant`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

IMPRESSIONS, CONVERSIONS = "Impressions", "Conversions"


def metric_period(window_s: float) -> int:
    """GetMetricData's Period for sums over the last `window_s` seconds: at most 1,440 points per
    metric, and what CloudWatch's retention allows for the oldest point - 60 s data is kept 15 days,
    then only 5-minute aggregates (63 days), then hourly: a window reaching further back than 15
    (63) days needs a multiple of 300 (3,600) seconds."""
    window_s = max(window_s, 60.0)
    period = 60 * max(1, math.ceil(window_s / 60 / 1440))
    for age, step in ((63 * 86400, 3600), (15 * 86400, 300)):
        if window_s > age:
            return step * math.ceil(period / step)
    return period


class AbTestLedgerHook(AwsBaseHook):
    def __init__(self, *args, table_name: str, **kwargs) -> None:
        kwargs["client_type"] = "dynamodb"
        super().__init__(*args, **kwargs)
        self.table_name = table_name

    @staticmethod
    def _key(endpoint: str, test_id: str) -> dict[str, Any]:
        return {"endpoint_name": {"S": endpoint}, "test_id": {"S": test_id}}

    def get(self, endpoint: str, test_id: str) -> dict[str, Any] | None:
        item = self.conn.get_item(TableName=self.table_name, Key=self._key(endpoint, test_id), ConsistentRead=True)
        if "Item" not in item:
            return None
        return {"status": item["Item"]["status"]["S"], "record": json.loads(item["Item"]["record"]["S"])}

    def start(self, endpoint: str, test_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Put the test unless it exists; returns the stored record (the existing one on a rerun)."""
        existing = self.get(endpoint, test_id)
        if existing is not None:
            return existing["record"]
        try:
            self.conn.put_item(
                TableName=self.table_name,
                Item={
                    **self._key(endpoint, test_id),
                    "status": {"S": "running"},
                    "record": {"S": json.dumps(record, default=str)},
                },
                ConditionExpression="attribute_not_exists(test_id)",
            )
        except self.conn.exceptions.ConditionalCheckFailedException:
            return self.get(endpoint, test_id)["record"]  # a concurrent start won
        return record

    def update(self, endpoint: str, test_id: str, status: str, changes: dict[str, Any]) -> dict[str, Any]:
        record = {**(self.get(endpoint, test_id) or {}).get("record", {}), **changes}
        self.conn.update_item(
            TableName=self.table_name,
            Key=self._key(endpoint, test_id),
            UpdateExpression="SET #s = :s, #r = :r",
            ExpressionAttributeNames={"#s": "status", "#r": "record"},
            ExpressionAttributeValues={":s": {"S": status}, ":r": {"S": json.dumps(record, default=str)}},
        )
        return record


class AbMetricsHook(AwsBaseHook):
    """Per-variant sums since the test started, and which guardrail alarms are in ALARM."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "cloudwatch"
        super().__init__(*args, **kwargs)

    def variant_sums(
        self, namespace: str, endpoint: str, variants: list[str], metrics: tuple[str, ...], since: datetime
    ) -> dict[str, dict[str, float]]:
        now = datetime.now(UTC)
        period = metric_period((now - since).total_seconds())
        queries, names = [], {}
        for i, variant in enumerate(variants):
            for j, metric in enumerate(metrics):
                query_id = f"m{i}_{j}"
                names[query_id] = (variant, metric)
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": namespace,
                                "MetricName": metric,
                                "Dimensions": [
                                    {"Name": "EndpointName", "Value": endpoint},
                                    {"Name": "VariantName", "Value": variant},
                                ],
                            },
                            "Period": period,
                            "Stat": "Sum",
                        },
                        "ReturnData": True,
                    }
                )
        sums = {variant: dict.fromkeys(metrics, 0.0) for variant in variants}
        paginator = self.conn.get_paginator("get_metric_data")
        for page in paginator.paginate(MetricDataQueries=queries, StartTime=since, EndTime=now):
            for result in page["MetricDataResults"]:
                variant, metric = names[result["Id"]]
                sums[variant][metric] += float(sum(result["Values"]))
        return sums

    def alarms_breached_since(self, names: list[str], since: datetime) -> list[str]:
        """Alarms that went to ALARM at any time since `since` (their StateUpdate history), even if
        they are OK again: a breach that clears between two looks still counts."""
        breached = []
        for name in names:
            pages = self.conn.get_paginator("describe_alarm_history").paginate(
                AlarmName=name, HistoryItemType="StateUpdate", StartDate=since, EndDate=datetime.now(UTC)
            )
            for page in pages:
                for item in page["AlarmHistoryItems"]:
                    new_state = json.loads(item.get("HistoryData") or "{}").get("newState", {})
                    if new_state.get("stateValue") == "ALARM":
                        breached.append(name)
                        break
                if name in breached:
                    break
        return sorted(breached)

    def alarms_firing(self, names: list[str]) -> list[str]:
        if not names:
            return []
        firing = []
        for page in self.conn.get_paginator("describe_alarms").paginate(AlarmNames=names, AlarmTypes=["MetricAlarm"]):
            firing += [a["AlarmName"] for a in page["MetricAlarms"] if a["StateValue"] == "ALARM"]
        return sorted(firing)
