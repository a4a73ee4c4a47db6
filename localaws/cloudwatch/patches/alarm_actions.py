"""Alarm actions run on every change of state, which moto only stores.

On AWS an alarm whose state changes - by evaluation or SetAlarmState - runs the actions listed for
the new state (AlarmActions for ALARM, OKActions for OK, InsufficientDataActions for
INSUFFICIENT_DATA) when ActionsEnabled is true. An SNS topic action publishes CloudWatch's alarm
notification: a JSON message (alarm, old and new state, reason, Region by its long name, the
Trigger: the metric or the metric-math queries) with the Subject `ALARM: "<name>" in <Region>`.
It is published through moto's SNS backend, so the topic's subscriptions (SQS queues) receive it,
but only as AWS would: CloudWatch (`cloudwatch.amazonaws.com`, with `aws:SourceArn` the alarm and
`aws:SourceAccount`/`AWS:SourceOwner` its account) must be allowed `sns:Publish` by the topic's
policy and, for a topic encrypted with a KMS key, `kms:GenerateDataKey*` and `kms:Decrypt` by the key
policy (an AWS managed key, `alias/aws/sns`, never allows it). A refusal is a failed Action history
item with CloudWatch's message, and no notification.

Each change and each action is kept as a history item in AWS's shape (HistoryItemType StateUpdate
and Action), answered by DescribeAlarmHistory (`localaws.cloudwatch.responses`), which moto lacks.

Auto Scaling, EC2, Systems Manager and Lambda actions are not used by the project and are not
emulated: such an action is recorded as a failed Action history item saying so, never as done.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.loaders import create_loader
from moto.cloudwatch.models import Alarm
from moto.core.utils import utcnow
from moto.kms.models import kms_backends
from moto.sns.models import sns_backends

from localaws.iam.enforcement import service_decision

log = logging.getLogger(__name__)

ACTIONS_FOR = {"ALARM": "alarm_actions", "OK": "ok_actions", "INSUFFICIENT_DATA": "insufficient_data_actions"}
_STATISTICS = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}


@cache
def region_long_name(region: str) -> str:
    """The Region's name as CloudWatch writes it in notifications, from botocore's endpoint data."""
    for partition in create_loader().load_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region].get("description", region)
    return region


def _timestamp(moment: datetime) -> str:
    """CloudWatch's notification time format: 2021-02-15T14:57:14.419+0000."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _dimensions(dimensions) -> list[dict[str, str]]:
    return [{"value": d.value, "name": d.name} for d in dimensions]


def trigger(alarm: Alarm) -> dict[str, Any]:
    """The notification's Trigger: the alarm's metric and statistic, or its metric-math queries."""
    common = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else None,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.metric_data_queries:
        metrics = []
        for query in alarm.metric_data_queries:
            item: dict[str, Any] = {"Id": query.id}
            if query.expression:
                item["Expression"] = query.expression
            if query.label:
                item["Label"] = query.label
            if query.metric_stat is not None:
                stat, metric = query.metric_stat, query.metric_stat.metric
                item["MetricStat"] = {
                    "Metric": {
                        "Dimensions": _dimensions(metric.dimensions),
                        "MetricName": metric.metric_name,
                        "Namespace": metric.namespace,
                    },
                    "Period": stat.period,
                    "Stat": stat.stat,
                }
                if stat.unit:
                    item["MetricStat"]["Unit"] = stat.unit
            item["ReturnData"] = bool(query.return_data)
            metrics.append(item)
        period = alarm.period or next((q.metric_stat.period for q in alarm.metric_data_queries if q.metric_stat), None)
        return {**common, "Period": period, "Metrics": metrics}
    statistic = (
        {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic}
        if alarm.extended_statistic
        else {"StatisticType": "Statistic", "Statistic": _STATISTICS.get(alarm.statistic, alarm.statistic)}
    )
    return {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        **statistic,
        "Unit": alarm.unit,
        "Dimensions": _dimensions(alarm.dimensions),
        **common,
    }


def notification(alarm: Alarm, old_state: str, account_id: str) -> tuple[str, dict[str, Any]]:
    """(Subject, Message) of the SNS notification for the alarm's current state."""
    region = region_long_name(alarm.region_name)
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": _timestamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _timestamp(alarm.state_updated_timestamp),
        "Region": region,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger(alarm),
    }
    return f'{alarm.state_value}: "{alarm.name}" in {region}', message


def _history(alarm: Alarm, item_type: str, summary: str, data: dict[str, Any]) -> None:
    items = alarm.__dict__.setdefault("localaws_history", [])
    items.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": utcnow(),
            "HistoryItemType": item_type,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )


def _state(value: str, reason: str, reason_data: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"stateValue": value, "stateReason": reason}
    if reason_data and reason_data != "{}":
        with contextlib.suppress(ValueError):  # SetAlarmState's reason data is checked JSON; ours too
            state["stateReasonData"] = json.loads(reason_data)
    return state


def run_actions(alarm: Alarm, old_state: str, old_reason: str, old_reason_data: str | None) -> None:
    """Record the change of state and run the new state's actions (when enabled)."""
    _history(
        alarm,
        "StateUpdate",
        f"Alarm updated from {old_state} to {alarm.state_value}",
        {
            "version": "1.0",
            "oldState": _state(old_state, old_reason, old_reason_data),
            "newState": _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data),
        },
    )
    if not alarm.actions_enabled:
        return
    account_id = alarm.alarm_arn.split(":")[4]
    for action in getattr(alarm, ACTIONS_FOR[alarm.state_value]) or []:
        _run(alarm, action, old_state, account_id)


def _run(alarm: Alarm, action: str, old_state: str, account_id: str) -> None:
    data: dict[str, Any] = {
        "actionState": "Succeeded",
        "stateUpdateTimestamp": _timestamp(alarm.state_updated_timestamp),
    }
    parts = action.split(":")
    if len(parts) < 6 or parts[2] != "sns":
        summary = f"Failed to execute action {action}: this action type is not emulated by the local stack"
        log.warning("alarm %s: %s", alarm.name, summary)
        _history(alarm, "Action", summary, {**data, "actionState": "Failed", "error": summary})
        return
    subject, message = notification(alarm, old_state, account_id)
    topic = sns_backends[parts[4]][parts[3]].topics.get(action)
    try:
        if topic is None:
            raise LookupError("topic does not exist")
        refusal = publish_refusal(alarm, topic, account_id)
        if refusal is not None:
            raise PermissionError(refusal)
        message_id = topic.publish(json.dumps(message), subject=subject)
    except PermissionError as err:  # CloudWatch's wording, e.g. in the alarm-notification Knowledge Center
        summary = f'Failed to execute action {action}. Received error: "{err}"'
        log.warning("alarm %s: %s", alarm.name, summary)
        _history(alarm, "Action", summary, {**data, "actionState": "Failed", "error": str(err)})
        return
    except Exception as err:  # a failed action is recorded, as CloudWatch does; the alarm goes on
        summary = f"Failed to execute action {action}: {err}"
        log.warning("alarm %s: %s", alarm.name, summary)
        _history(alarm, "Action", summary, {**data, "actionState": "Failed", "error": str(err)})
        return
    _history(
        alarm,
        "Action",
        f"Successfully executed action {action}",
        {**data, "notificationResource": action, "publishedMessage": {"messageId": message_id}},
    )


def publish_refusal(alarm: Alarm, topic, account_id: str) -> str | None:
    """Why CloudWatch may not publish the alarm's notification to `topic` (None when it may)."""
    region = topic.arn.split(":")[3]
    context = {
        "aws:SourceArn": [alarm.alarm_arn],
        "aws:SourceAccount": [account_id],
        "AWS:SourceOwner": [account_id],
    }
    decision = service_decision("cloudwatch.amazonaws.com", "sns:Publish", topic.arn, account_id, region, context)
    if not decision.allowed:
        return f"Resource: {alarm.alarm_arn} is not authorized to perform: SNS:Publish on resource: {topic.arn}"
    if not topic.kms_master_key_id:
        return None
    key_denied = "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
    backend = kms_backends[account_id][region]
    try:
        key_id = backend.any_id_to_key_id(topic.kms_master_key_id)
        key = backend.keys[key_id]
    except (KeyError, TypeError, AttributeError):
        if topic.kms_master_key_id.endswith("alias/aws/sns"):
            return key_denied  # the AWS managed key's policy allows SNS's own callers only
        return f"the topic's KMS key {topic.kms_master_key_id} does not exist"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        if not service_decision("cloudwatch.amazonaws.com", action, key.arn, account_id, region, context).allowed:
            return key_denied
    return None


def install() -> None:
    """Run the actions from `Alarm.update_state`, the one place moto changes an alarm's state."""
    if getattr(Alarm, "_localaws_actions", False):
        return
    update_state = Alarm.update_state

    def update_and_act(self, reason, reason_data, state_value):
        old = (self.state_value, self.state_reason, self.state_reason_data)
        update_state(self, reason, reason_data, state_value)
        if state_value != old[0]:
            run_actions(self, *old)

    Alarm.update_state = update_and_act
    Alarm._localaws_actions = True
