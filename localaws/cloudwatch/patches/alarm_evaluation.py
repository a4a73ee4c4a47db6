"""Metric alarms that change state: the evaluation CloudWatch runs, which moto leaves out.

Before any DescribeAlarms, each metric alarm whose last evaluation is older than
`EVALUATE_EVERY_S` is evaluated as CloudWatch does: the last `EvaluationPeriods` periods ending
now, one value per period (the statistic - Sum, Average, Minimum, Maximum, SampleCount or a pNN
extended statistic - or a metric-math expression over `MetricStat` queries), ALARM when at least
`DatapointsToAlarm` of them breach the threshold, missing periods handled by `TreatMissingData`.
SetAlarmState holds for one period before data may move the alarm again, as on AWS.

Metric math covers what alarms on rates need: + - * /, comparisons, IF(cond, a, b), and query ids.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import os
import time
from datetime import timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, MetricDatum
from moto.core.utils import utcnow

EVALUATE_EVERY_S = float(os.environ.get("LOCALAWS_ALARM_EVALUATE_EVERY_S", "5"))
_COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARISONS = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le}
_held_until: dict[str, float] = {}
_evaluated_at: dict[str, float] = {}


def statistic(values: list[float], stat: str) -> float | None:
    if not values:
        return None
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return float(sum(values) / len(values))
    if stat == "Minimum":
        return float(min(values))
    if stat == "Maximum":
        return float(max(values))
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, math.ceil(float(stat[1:]) / 100 * len(ordered)) - 1)
        return float(ordered[rank])
    raise ValueError(f"statistic {stat!r} is not supported by the local alarm evaluation")


def expression_value(expression: str, names: dict[str, float | None]) -> float | None:
    """Evaluate a metric-math expression for one period; None when an operand has no data."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"metric math: unknown id {node.id!r} in {expression!r}")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = walk(node.operand)
            return None if value is None else -value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARISONS:
            left, right = walk(node.left), walk(node.comparators[0])
            if left is None or right is None:
                return None
            return float(_COMPARISONS[type(node.ops[0])](left, right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "IF":
            if len(node.args) != 3:
                raise ValueError(f"metric math: IF takes 3 arguments in {expression!r}")
            condition = walk(node.args[0])
            if condition is None:
                return None
            return walk(node.args[1] if condition else node.args[2])
        raise ValueError(f"metric math: {ast.dump(node)} is not supported locally in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


def _values(backend: CloudWatchBackend, namespace, name, dimensions, start, end) -> list[float]:
    wanted = {(d.name, d.value) for d in dimensions}
    return [
        md.value
        for md in list(backend.metric_data)
        if isinstance(md, MetricDatum)
        and md.namespace == namespace
        and md.name == name
        and start <= md.timestamp.replace(tzinfo=None) < end  # moto mixes naive and aware UTC
        and {(d.name, d.value) for d in md.dimensions} == wanted
    ]


def period_values(backend: CloudWatchBackend, alarm, now) -> list[float | None]:
    """One value per evaluation period, oldest first."""
    queries = alarm.metric_data_queries or []
    period = alarm.period or next((q.metric_stat.period for q in queries if q.metric_stat), None) or 60
    out: list[float | None] = []
    for index in range(alarm.evaluation_periods, 0, -1):
        start, end = now - timedelta(seconds=period * index), now - timedelta(seconds=period * (index - 1))
        if not queries:
            stat = alarm.extended_statistic or alarm.statistic
            values = _values(backend, alarm.namespace, alarm.metric_name, alarm.dimensions, start, end)
            out.append(statistic(values, stat))
            continue
        names: dict[str, float | None] = {}
        for query in queries:
            if query.metric_stat is not None:
                metric = query.metric_stat.metric
                values = _values(backend, metric.namespace, metric.metric_name, metric.dimensions, start, end)
                names[query.id] = statistic(values, query.metric_stat.stat)
        for query in queries:
            if query.expression:
                names[query.id] = expression_value(query.expression, names)
        returned = next(q.id for q in queries if q.return_data)
        out.append(names[returned])
    return out


def evaluate(backend: CloudWatchBackend, alarm) -> None:
    if alarm.threshold is None or alarm.comparison_operator not in _COMPARE:
        return
    values = period_values(backend, alarm, utcnow())
    compare = _COMPARE[alarm.comparison_operator]
    treat = alarm.treat_missing_data or "missing"
    breaching = sum(1 for v in values if v is not None and compare(v, alarm.threshold))
    if treat == "breaching":
        breaching += sum(1 for v in values if v is None)
    needed = alarm.datapoints_to_alarm or alarm.evaluation_periods
    if breaching >= needed:
        state = "ALARM"
    elif all(v is None for v in values) and treat in ("missing", "ignore"):
        state = "INSUFFICIENT_DATA"
    else:
        state = "OK"
    if state != alarm.state_value:
        shown = [None if v is None else round(v, 6) for v in values]
        reason = (
            f"Threshold Crossed: {breaching} out of the last {len(values)} datapoints {shown} were "
            f"{alarm.comparison_operator} the threshold ({alarm.threshold}) (minimum {needed} for ALARM)."
        )
        data = {"version": "1.0", "queryDate": utcnow().isoformat(), "recentDatapoints": shown}
        alarm.update_state(reason, json.dumps(data), state)


def evaluate_due(backend: CloudWatchBackend) -> None:
    now = time.monotonic()
    for alarm in list(backend.alarms.values()):
        key = alarm.alarm_arn
        if now < _held_until.get(key, 0) or now - _evaluated_at.get(key, -math.inf) < EVALUATE_EVERY_S:
            continue
        _evaluated_at[key] = now
        evaluate(backend, alarm)


def install() -> None:
    """Evaluate before every read of alarm state; let SetAlarmState hold for a period."""
    if getattr(CloudWatchBackend, "_localaws_alarms", False):
        return
    for name in (
        "describe_alarms",
        "get_alarms_by_action_prefix",
        "get_alarms_by_alarm_name_prefix",
        "get_alarms_by_alarm_names",
        "get_alarms_by_state_value",
    ):
        original = getattr(CloudWatchBackend, name)

        def reading(self, *args, _original=original, **kwargs):
            evaluate_due(self)
            return _original(self, *args, **kwargs)

        setattr(CloudWatchBackend, name, reading)
    set_state = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
        set_state(self, alarm_name, reason, reason_data, state_value)
        alarm = self.alarms[alarm_name]
        _held_until[alarm.alarm_arn] = time.monotonic() + (alarm.period or 60)

    CloudWatchBackend.set_alarm_state = set_alarm_state
    CloudWatchBackend._localaws_alarms = True
