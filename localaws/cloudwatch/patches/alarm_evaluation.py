"""Metric alarms that change state: the evaluation CloudWatch runs, which moto leaves out.

Evaluated on a schedule by the stack's `AlarmEvaluator` thread (every `EVALUATE_EVERY_S`, and
at once after PutMetricData or PutMetricAlarm), so an alarm changes state - and its actions run -
even when nobody reads it, as on AWS; and before any DescribeAlarms for alarms whose last
evaluation is older than `EVALUATE_EVERY_S`. Each evaluation is what CloudWatch does: the last
`EvaluationPeriods` periods ending now, one value per period (the statistic - Sum, Average,
Minimum, Maximum, SampleCount or a pNN extended statistic - or a metric-math expression over
`MetricStat` queries), ALARM when at least `DatapointsToAlarm` of them breach the threshold,
missing periods handled by `TreatMissingData`.
SetAlarmState holds for one period before data may move the alarm again, as on AWS. A new alarm
starts in INSUFFICIENT_DATA and PutMetricAlarm on an existing one keeps its state (AWS's
PutMetricAlarm contract; moto starts every put at OK), so the first evaluation is a transition.
Evaluations and SetAlarmState take `TRANSITIONS`, so one change of state runs its actions once.

Metric math covers what alarms on rates need: + - * /, comparisons, IF(cond, a, b), FILL(id, number)
and query ids.
"""

from __future__ import annotations

import ast
import bisect
import json
import math
import operator
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
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
_WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
_held_until: dict[str, float] = {}
_evaluated_at: dict[str, float] = {}
TRANSITIONS = threading.RLock()
# Called after PutMetricData / PutMetricAlarm: the running evaluators' wake-ups.
listeners: set[Callable[[], None]] = set()


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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "FILL":
            # FILL(m, value): a period without data counts as `value` (REPEAT/LINEAR are not used here)
            if len(node.args) != 2 or isinstance(node.args[1], ast.Name):
                raise ValueError(f"metric math: only FILL(id, number) is supported locally in {expression!r}")
            value = walk(node.args[0])
            return walk(node.args[1]) if value is None else value
        raise ValueError(f"metric math: {ast.dump(node)} is not supported locally in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


class MetricIndex:
    """A backend's datapoints as time-sorted series per (namespace, metric, dimensions), kept on
    the backend and extended with the datapoints put since the last evaluation (moto only appends
    to `metric_data`), so that a pass costs the new datapoints plus a bisection per period rather
    than a scan of every datapoint ever put."""

    def __init__(self) -> None:
        self.series: dict[tuple, list[tuple[datetime, float]]] = defaultdict(list)
        self.count = 0

    @classmethod
    def of(cls, backend: CloudWatchBackend) -> MetricIndex:
        index = backend.__dict__.get("_localaws_index")
        data = list(backend.metric_data)
        if index is None or len(data) < index.count:  # first use, or the backend was reset
            index = backend.__dict__["_localaws_index"] = cls()
        for md in data[index.count :]:
            if isinstance(md, MetricDatum):
                at = md.timestamp.replace(tzinfo=None)  # moto mixes naive and aware UTC
                bisect.insort(index.series[_key(md.namespace, md.name, md.dimensions)], (at, md.value))
        index.count = len(data)
        return index

    def values(self, namespace, name, dimensions, start, end) -> list[float]:
        series = self.series.get(_key(namespace, name, dimensions), [])
        return [value for _, value in series[bisect.bisect_left(series, (start,)) : bisect.bisect_left(series, (end,))]]


def _key(namespace, name, dimensions) -> tuple:
    return namespace, name, frozenset((d.name, d.value) for d in dimensions)


def _period(alarm) -> int:
    queries = alarm.metric_data_queries or []
    return alarm.period or next((q.metric_stat.period for q in queries if q.metric_stat), None) or 60


def period_values(index: MetricIndex, alarm, now) -> list[float | None]:
    """One value per evaluation period, oldest first."""
    queries = alarm.metric_data_queries or []
    period = _period(alarm)
    out: list[float | None] = []
    for back in range(alarm.evaluation_periods, 0, -1):
        start, end = now - timedelta(seconds=period * back), now - timedelta(seconds=period * (back - 1))
        if not queries:
            stat = alarm.extended_statistic or alarm.statistic
            values = index.values(alarm.namespace, alarm.metric_name, alarm.dimensions, start, end)
            out.append(statistic(values, stat))
            continue
        names: dict[str, float | None] = {}
        for query in queries:
            if query.metric_stat is not None:
                metric = query.metric_stat.metric
                values = index.values(metric.namespace, metric.metric_name, metric.dimensions, start, end)
                names[query.id] = statistic(values, query.metric_stat.stat)
        for query in queries:
            if query.expression:
                names[query.id] = expression_value(query.expression, names)
        returned = next(q.id for q in queries if q.return_data)
        out.append(names[returned])
    return out


def evaluate(index: MetricIndex, alarm) -> None:
    """Evaluate one alarm now and move it to the state its data says (under `TRANSITIONS`)."""
    if alarm.threshold is None or alarm.comparison_operator not in _COMPARE:
        return
    with TRANSITIONS:
        if time.monotonic() < _held_until.get(alarm.alarm_arn, 0):
            return
        now = utcnow()
        values = period_values(index, alarm, now)
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
        if state == alarm.state_value:
            return
        shown = [None if v is None else round(v, 6) for v in values]
        alarm.update_state(_reason(alarm, values, now, breaching, needed, state), _reason_data(shown, now), state)


def _reason(alarm, values, now, breaching: int, needed: int, state: str) -> str:
    """CloudWatch's wording: the datapoints newest first, each with its period's start time."""
    if state == "INSUFFICIENT_DATA":
        return f"Insufficient Data: {len(values)} datapoints were unknown."
    missing = sum(1 for v in values if v is None)
    if missing == len(values):
        treated = "Breaching" if state == "ALARM" else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {missing} period{'s' * (missing > 1)} and "
            f"{missing} missing datapoint{'s were' if missing > 1 else ' was'} treated as [{treated}]."
        )
    period = _period(alarm)
    points = [
        f"{round(v, 6)} ({(now - timedelta(seconds=period * (len(values) - i))).strftime('%d/%m/%y %H:%M:%S')})"
        for i, v in enumerate(values)
        if v is not None
    ][::-1]
    verb = "was" if len(points) == 1 else "were"
    compare = _COMPARE[alarm.comparison_operator]
    not_breaching = sum(1 for v in values if v is not None and not compare(v, alarm.threshold))
    words = _WORDS[alarm.comparison_operator] if state == "ALARM" else f"not {_WORDS[alarm.comparison_operator]}"
    plural = "datapoint" if needed == 1 else "datapoints"
    return (
        f"Threshold Crossed: {breaching if state == 'ALARM' else not_breaching} out of the last "
        f"{len(values)} datapoints [{', '.join(points)}] {verb} {words} the threshold ({float(alarm.threshold)}) "
        f"(minimum {needed} {plural} for {alarm.state_value} -> {state} transition)."
    )


def _reason_data(shown, now) -> str:
    return json.dumps({"version": "1.0", "queryDate": now.isoformat(), "recentDatapoints": shown})


def evaluate_backend(backend: CloudWatchBackend, only_due: bool = True) -> None:
    """Evaluate the backend's alarms: those not evaluated for `EVALUATE_EVERY_S` (reads), or all
    of them (the evaluator's pass); an alarm held by SetAlarmState is skipped."""
    now = time.monotonic()
    with TRANSITIONS:
        index = MetricIndex.of(backend)
    for alarm in list(backend.alarms.values()):
        key = alarm.alarm_arn
        if now < _held_until.get(key, 0):
            continue
        if only_due and now - _evaluated_at.get(key, -math.inf) < EVALUATE_EVERY_S:
            continue
        _evaluated_at[key] = now
        evaluate(index, alarm)


def evaluate_due(backend: CloudWatchBackend) -> None:
    evaluate_backend(backend, only_due=True)


def _wake() -> None:
    for wake in list(listeners):
        wake()


def install() -> None:
    """Evaluate before every read of alarm state; let SetAlarmState hold for a period; AWS's initial
    and kept state on PutMetricAlarm; wake the evaluators after PutMetricData and PutMetricAlarm."""
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
        with TRANSITIONS:
            set_state(self, alarm_name, reason, reason_data, state_value)
            alarm = self.alarms[alarm_name]
            _held_until[alarm.alarm_arn] = time.monotonic() + _period(alarm)

    put_alarm = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(self, name, *args, **kwargs):
        with TRANSITIONS:
            previous = self.alarms.get(name)
            alarm = put_alarm(self, name, *args, **kwargs)
            if previous is None:  # a new alarm (perhaps after one of that name was deleted)
                alarm.state_value = "INSUFFICIENT_DATA"
                _held_until.pop(alarm.alarm_arn, None)
                _evaluated_at.pop(alarm.alarm_arn, None)
            else:
                for field in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                    setattr(alarm, field, getattr(previous, field))
                if hasattr(previous, "localaws_history"):
                    alarm.localaws_history = previous.localaws_history
        _wake()
        return alarm

    put_data = CloudWatchBackend.put_metric_data

    def put_metric_data(self, namespace, metric_data):
        put_data(self, namespace, metric_data)
        _wake()

    CloudWatchBackend.set_alarm_state = set_alarm_state
    CloudWatchBackend.put_metric_alarm = put_metric_alarm
    CloudWatchBackend.put_metric_data = put_metric_data
    CloudWatchBackend._localaws_alarms = True
