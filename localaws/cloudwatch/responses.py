"""DescribeAlarmHistory, which moto does not implement: the StateUpdate and Action items that
`patches.alarm_actions` records on each change of an alarm's state."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from localaws.wire import ApiCall, AwsError, Operations

operations = Operations()


def _naive(moment):
    return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None and moment.tzinfo else moment


@operations.handles("cloudwatch", "DescribeAlarmHistory")
def describe_alarm_history(call: ApiCall) -> dict[str, Any]:
    params = call.params
    backend = cloudwatch_backends[call.account_id][call.region]
    name, kind = params.get("AlarmName"), params.get("HistoryItemType")
    start, end = _naive(params.get("StartDate")), _naive(params.get("EndDate"))
    types = params.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
    items = [
        item
        for alarm in list(backend.alarms.values())
        if name is None or alarm.name == name
        for item in list(alarm.__dict__.get("localaws_history", []))
        if (kind is None or item["HistoryItemType"] == kind)
        and item["AlarmType"] in types
        and (start is None or item["Timestamp"] >= start)
        and (end is None or item["Timestamp"] <= end)
    ]
    newest_first = params.get("ScanBy", "TimestampDescending") != "TimestampAscending"
    items.sort(key=lambda item: item["Timestamp"], reverse=newest_first)
    offset = int(params.get("NextToken") or 0)
    limit = params.get("MaxRecords") or 100
    if not 1 <= limit <= 100:
        raise AwsError("InvalidParameterValue", "MaxRecords must be between 1 and 100", 400)
    page = items[offset : offset + limit]
    out: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + limit < len(items):
        out["NextToken"] = str(offset + limit)
    return out
