"""Subscriptions as SNS makes them: `Subscribe` refuses a protocol SNS does not support and an
endpoint that does not fit its protocol (an email address for email, a URL of that scheme for
http/https, an ARN of the right service for sqs, lambda, firehose, application), email
subscriptions stay `PendingConfirmation` until confirmed, and `RawMessageDelivery` is `true` or
`false` (moto stored the string, so "false" delivered raw). `AWS::SNS::Subscription` subscribes
through the same call and sets `RawMessageDelivery`, `FilterPolicyScope`, `FilterPolicy`,
`DeliveryPolicy`, `RedrivePolicy` and `SubscriptionRoleArn` as subscription attributes."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sns import models as sns_models
from moto.sns.exceptions import SNSInvalidParameter

from localaws.cloudformation import resource_types, schemas

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ARN = {
    "sqs": re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$"),
    "lambda": re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$"),
    "firehose": re.compile(r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:\d{12}:deliverystream/[A-Za-z0-9_.-]+$"),
    "application": re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/.+$"),
}
ATTRIBUTES = ("FilterPolicyScope", "RawMessageDelivery", "FilterPolicy", "DeliveryPolicy", "RedrivePolicy")


class _Flag(str):
    """ "true"/"false" as SNS returns it, false when it says false (moto tests its truthiness)."""

    def __bool__(self) -> bool:
        return self == "true"


def check_endpoint(protocol: str, endpoint: str | None) -> None:
    if protocol not in PROTOCOLS:
        raise SNSInvalidParameter(f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}")
    if not endpoint:
        raise SNSInvalidParameter(f"Invalid parameter: Endpoint is required for protocol {protocol}")
    if protocol in ("email", "email-json") and not _EMAIL.match(endpoint):
        raise SNSInvalidParameter(f"Invalid parameter: Email address ({endpoint!r} is not an email address)")
    if protocol in ("http", "https") and not endpoint.startswith(f"{protocol}://"):
        raise SNSInvalidParameter(f"Invalid parameter: Endpoint must match the specified protocol ({protocol}://...)")
    if protocol in _ARN and not _ARN[protocol].match(endpoint):
        raise SNSInvalidParameter(f"Invalid parameter: {protocol.upper()} endpoint ARN ({endpoint!r})")


def _subscribe(original):
    def subscribe(self, topic_arn: str, endpoint: str, protocol: str):
        self.get_topic(topic_arn)
        check_endpoint(protocol, endpoint)
        known = self._find_subscription(topic_arn, endpoint, protocol)
        subscription = original(self, topic_arn, endpoint, protocol)
        if known is None and protocol in ("email", "email-json"):
            subscription.attributes["PendingConfirmation"] = "true"
            subscription.attributes["ConfirmationWasAuthenticated"] = "false"
            subscription.topic.subscriptions_pending += 1
        return subscription

    return subscribe


def _set_subscription_attributes(original):
    def set_subscription_attributes(self, arn: str, name: str, value: Any) -> None:
        if name == "RawMessageDelivery":
            text = str(value).lower()
            if text not in ("true", "false"):
                raise SNSInvalidParameter(
                    "Invalid parameter: Attributes Reason: RawMessageDelivery: "
                    f"Invalid value [{value}]. Must be true or false."
                )
            value = _Flag(text)
        original(self, arn, name, value)

    return set_subscription_attributes


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


class Subscription(CloudFormationModel):
    """`AWS::SNS::Subscription`: a real subscription (its `Ref` and `Arn` are its ARN)."""

    def __init__(self, subscription) -> None:
        self.subscription = subscription

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @property
    def physical_resource_id(self) -> str:
        return self.subscription.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.subscription.arn
        raise KeyError(attribute_name)

    @staticmethod
    def _backend(properties: dict[str, Any], account_id: str, region_name: str):
        return sns_models.sns_backends[account_id][properties.get("Region") or region_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        schemas.check("AWS::SNS::Subscription", properties)
        backend = cls._backend(properties, account_id, region_name)
        subscription = backend.subscribe(properties["TopicArn"], properties.get("Endpoint"), properties["Protocol"])
        try:
            cls._set_attributes(backend, subscription.arn, properties)
        except Exception:
            backend.unsubscribe(subscription.arn)
            raise
        return cls(subscription)

    @staticmethod
    def _set_attributes(backend, arn: str, properties: dict[str, Any]) -> None:
        for name in (*ATTRIBUTES, "SubscriptionRoleArn"):
            if name in properties:
                backend.set_subscription_attributes(arn, name, _attribute_text(properties[name]))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json.get("Properties", {})
        schemas.check("AWS::SNS::Subscription", properties)
        current = original_resource.subscription
        if (properties["TopicArn"], properties.get("Endpoint"), properties["Protocol"]) != (
            current.topic_arn,
            current.endpoint,
            current.protocol,
        ):  # create-only properties: a replacement
            created = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return created
        cls._set_attributes(cls._backend(properties, account_id, region_name), current.arn, properties)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        arn = self.subscription.arn
        sns_models.sns_backends[account_id][arn.split(":")[3]].unsubscribe(arn)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    backend = sns_models.SNSBackend
    backend.subscribe = _subscribe(backend.subscribe)
    backend.set_subscription_attributes = _set_subscription_attributes(backend.set_subscription_attributes)
    resource_types.refresh()
    _installed = True
