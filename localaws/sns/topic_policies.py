"""Topic policies as SNS takes them: `SetTopicAttributes(Policy)` refuses a document that is not a
valid policy for the topic (invalid JSON, an action outside SNS, a resource other than the topic, a
malformed or unknown principal) with `InvalidParameter`, and `AWS::SNS::TopicPolicy` sets the
`Policy` attribute of each of its topics through that call (deleting it restores SNS's default
policy), so the topic's own `Policy` attribute is what was deployed."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sns import models as sns_models
from moto.sns.exceptions import SNSInvalidParameter

from localaws import resource_policies
from localaws.cloudformation import resource_types, schemas


def sns_backend(account_id: str, region: str):
    return sns_models.sns_backends[account_id][region]


def check(topic_arn: str, policy: str | dict[str, Any], account_id: str) -> dict[str, Any]:
    try:
        return resource_policies.check(
            policy,
            account_id=account_id,
            services=("sns",),
            resource_ok=lambda resource: fnmatch.fnmatchcase(topic_arn, resource),
            resource_kind="topic",
        )
    except resource_policies.PolicyRefused as refused:
        raise SNSInvalidParameter(f"Invalid parameter: Policy Error: {refused.detail}") from None


def _set_topic_attribute(original):
    def set_topic_attribute(self, topic_arn: str, attribute_name: str, attribute_value: str) -> None:
        if attribute_name in ("Policy", "policy"):  # moto's SetTopicAttributes passes it snake_cased
            self.get_topic(topic_arn)
            check(topic_arn, attribute_value, self.account_id)
        original(self, topic_arn, attribute_name, attribute_value)

    return set_topic_attribute


class TopicPolicy(CloudFormationModel):
    """`AWS::SNS::TopicPolicy`: the `Policy` attribute of each topic listed."""

    def __init__(self, policy_id: str, topics: list[str]) -> None:
        self.policy_id = policy_id
        self.topics = topics

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @property
    def physical_resource_id(self) -> str:
        return self.policy_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.policy_id
        raise KeyError(attribute_name)

    @staticmethod
    def _set(properties: dict[str, Any], account_id: str, region_name: str) -> list[str]:
        schemas.check("AWS::SNS::TopicPolicy", properties)
        document = properties["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        backend = sns_backend(account_id, region_name)
        for topic_arn in properties["Topics"]:
            backend.set_topic_attribute(topic_arn, "policy", text)
        return list(properties["Topics"])

    @staticmethod
    def _reset(topics: list[str], account_id: str, region_name: str) -> None:
        backend = sns_backend(account_id, region_name)
        for topic_arn in topics:
            topic = backend.topics.get(topic_arn)
            if topic is not None:
                topic._policy_json = topic._create_default_topic_policy(region_name, account_id, topic.name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(resource_name, cls._set(cloudformation_json.get("Properties", {}), account_id, region_name))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        topics = cls._set(cloudformation_json.get("Properties", {}), account_id, region_name)
        cls._reset([t for t in original_resource.topics if t not in topics], account_id, region_name)
        return cls(original_resource.policy_id, topics)

    def delete(self, account_id: str, region_name: str) -> None:
        self._reset(self.topics, account_id, region_name)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    sns_models.SNSBackend.set_topic_attribute = _set_topic_attribute(sns_models.SNSBackend.set_topic_attribute)
    resource_types.refresh()
    _installed = True
