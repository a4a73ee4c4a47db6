"""Service events on the default bus, and EventBridge's delivery to SNS topics, which moto lacks.

AWS services send their state changes to the account's default event bus themselves: ECS a `ECS Task
State Change` (source `aws.ecs`, the task as DescribeTasks shows it, ISO timestamps) on every task
transition, SageMaker a `SageMaker Training Job State Change` (source `aws.sagemaker`, the job as
DescribeTrainingJob shows it, epoch-millisecond timestamps) on every status change. Our ECS and
training emulations call `emit` at the same points, so the rules of `infra/` see what they would see
on AWS. A client cannot send events with an `aws.` source (EventBridge refuses it), so nothing but
the emulated services produces these.

moto matches a rule's pattern but raises for SNS targets and ignores the rule's state. Here a
DISABLED rule delivers nothing, and an SNS target is delivered as EventBridge does: the event JSON
as the message, published only when the topic's policy allows `events.amazonaws.com` to
`sns:Publish` (with `aws:SourceArn` the rule and `aws:SourceAccount` its account) and, for a topic
encrypted with a KMS key, the key policy allows it `kms:GenerateDataKey*` and `kms:Decrypt` (the
AWS managed `alias/aws/sns` never does). Every delivery counts in `AWS/Events` by `RuleName`:
`TriggeredRules`, `Invocations`, and `FailedInvocations` for a refused or failed target - the
figures AWS's troubleshooting guide sends you to when a topic receives nothing.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.events import models as events_models
from moto.kms.models import kms_backends
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn

from localaws.iam.enforcement import service_decision

log = logging.getLogger(__name__)

SERVICE = "events.amazonaws.com"


def iso_millis(moment: datetime | None) -> str | None:
    """ECS's event timestamps: 2017-04-13T21:37:26.689Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_millis(moment: datetime | None) -> int | None:
    """SageMaker's event timestamps: milliseconds since the epoch."""
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def jsonable(value: Any, timestamps) -> Any:
    """`value` with datetimes written by `timestamps` (the service's own format)."""
    if isinstance(value, datetime):
        return timestamps(value)
    if isinstance(value, dict):
        return {k: jsonable(v, timestamps) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, timestamps) for v in value]
    return value


def emit(account_id: str, region: str, source: str, detail_type: str, detail: dict, resources: list[str]) -> None:
    """Send a service's event to the default bus's rules (never raises: a service's own work goes on)."""
    try:
        bus = events_models.events_backends[account_id][region].describe_event_bus("default")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": resources,
            "detail": detail,
            "ingestion-time": time.time(),  # moto's own targets read it (as its PutEvents sets it)
        }
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event))
    except Exception:
        log.exception("delivering %s %s failed", source, detail_type)


def _metric(rule, name: str, value: float = 1.0) -> None:
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "RuleName", "Value": rule.name}],
            "Value": value,
            "Unit": "Count",
            "Timestamp": datetime.now(UTC),
        }
    ]
    cloudwatch_backends[rule.account_id][rule.region_name].put_metric_data("AWS/Events", data)


def publish_refusal(rule, topic) -> str | None:
    """Why EventBridge may not publish to `topic` for `rule` (None when it may)."""
    account_id, region = rule.account_id, topic.arn.split(":")[3]
    context = {"aws:SourceArn": [rule.arn], "aws:SourceAccount": [account_id]}
    if not service_decision(SERVICE, "sns:Publish", topic.arn, account_id, region, context).allowed:
        return f"{SERVICE} is not authorized to perform: SNS:Publish on resource: {topic.arn}"
    if not topic.kms_master_key_id:
        return None
    backend = kms_backends[account_id][region]
    try:
        key = backend.keys[backend.any_id_to_key_id(topic.kms_master_key_id)]
    except (KeyError, TypeError, AttributeError):
        if topic.kms_master_key_id.endswith("alias/aws/sns"):
            return "KMS: the AWS managed key alias/aws/sns does not allow events.amazonaws.com"
        return f"KMS: the topic's key {topic.kms_master_key_id} does not exist"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        if not service_decision(SERVICE, action, key.arn, account_id, region, context).allowed:
            return f"KMS: {SERVICE} is not authorized to perform: {action} on resource: {key.arn}"
    return None


def _deliver_sns(rule, target: dict[str, Any], event: dict[str, Any]) -> bool:
    arn = target["Arn"]
    parts = arn.split(":")
    topic = sns_backends[parts[4]][parts[3]].topics.get(arn)
    if topic is None:
        log.warning("rule %s: target topic %s does not exist", rule.name, arn)
        return False
    refusal = publish_refusal(rule, topic)
    if refusal is not None:
        log.warning("rule %s: delivery to %s refused: %s", rule.name, arn, refusal)
        return False
    parser = events_models.EventTemplateParser
    transformer = target.get("InputTransformer") or {}
    if "Input" in target:
        message = target["Input"]
    elif transformer:
        body = parser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event={"ingestion-time": time.time(), **event},  # the transformer's aws.events.* variables
        )
        message = body if isinstance(body, str) else json.dumps(body)
    else:
        message = json.dumps({k: v for k, v in event.items() if k != "ingestion-time"})
    topic.publish(message)
    return True


def install() -> None:
    """Rules deliver to SNS targets and honour their state; the rest stays moto's."""
    rule_class = events_models.Rule
    if getattr(rule_class, "_localaws_delivery", False):
        return
    original = rule_class.send_to_targets

    def send_to_targets(self, original_event, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        sns_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        others = [t for t in self.targets if t not in sns_targets]
        _metric(self, "TriggeredRules")
        for target in sns_targets:
            try:
                delivered = _deliver_sns(self, target, original_event)
            except Exception:
                log.exception("rule %s: delivery to %s failed", self.name, target["Arn"])
                delivered = False
            _metric(self, "Invocations")
            if not delivered:
                _metric(self, "FailedInvocations")
        if others:
            rest = copy.copy(self)
            rest.targets = others
            # moto's own delivery (SQS, logs) fills its template with a numeric time, as its PutEvents stamps it
            original(rest, {**original_event, "time": time.time()}, transform_input)
            _metric(self, "Invocations", float(len(others)))

    rule_class.send_to_targets = send_to_targets
    rule_class._localaws_delivery = True

    backend_class = events_models.EventsBackend
    put_events = backend_class.put_events

    def put_events_from_clients(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PutEvents refuses, per entry, a source reserved to AWS services (`aws.*`)."""
        if len(events) > 10:
            return put_events(self, events)  # moto's own validation error
        allowed = [e for e in events if not str(e.get("Source", "")).startswith("aws.")]
        results = iter(put_events(self, allowed) if allowed else [])
        return [
            next(results)
            if not str(e.get("Source", "")).startswith("aws.")
            else {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
            for e in events
        ]

    backend_class.put_events = put_events_from_clients


def _flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
    """moto's flattening, plus arrays of objects as EventBridge reads them: `containers.exitCode`
    of `{"containers": [{"exitCode": 0}, {"exitCode": 1}]}` is the array `[0, 1]`."""
    result = {} if result is None else result
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                _flatten(value, path, result)
            elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
                for item in value:
                    if isinstance(item, dict):
                        for sub_path, sub_value in _flatten(item, path, {}).items():
                            values = sub_value if isinstance(sub_value, list) else [sub_value]
                            result.setdefault(sub_path, []).extend(values)
            else:
                result[path] = value
    return result


def install_patterns() -> None:
    """Event patterns match inside arrays of objects; a filter matches an array when it matches
    one of its values (EventBridge's array rule), named filters (`anything-but`, `prefix`) included."""
    pattern_class = events_models.EventPattern
    if getattr(pattern_class, "_localaws_arrays", False):
        return
    match_filters = pattern_class._does_item_match_filters

    def does_item_match_filters(self, item: Any, filters: list[Any]) -> bool:
        if isinstance(item, list) and item:
            return any(match_filters(self, value, filters) for value in item)
        return match_filters(self, item, filters)

    pattern_class._flatten_dict = staticmethod(_flatten)
    pattern_class._does_item_match_filters = does_item_match_filters
    pattern_class._localaws_arrays = True
