"""`AWS::IAM::Role` updated as CloudFormation does: moto 5.2.5's update keeps the old inline
policies, trust policy and managed policies (and sets MaxSessionDuration from the wrong property),
so a grant removed from a template stayed in force - with IAM enforced, the local stack would
allow what the deployed template no longer grants."""

from __future__ import annotations

import json
from typing import Any

from moto.iam import models as iam_models
from moto.utilities.utils import get_partition


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _update_role(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    backend = iam_models.iam_backends[account_id][get_partition(region_name)]
    name = properties.get("RoleName", original_resource.name)
    if name != original_resource.name:  # a new RoleName replaces the role
        created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        cls.delete_from_cloudformation_json(original_resource.name, {}, account_id, region_name)
        return created
    role = original_resource
    backend.update_role(name, properties.get("Description", ""), int(properties.get("MaxSessionDuration", 3600)))
    # stored as create_from_cloudformation_json stores them (trust policy as JSON, inline as given)
    role.assume_role_policy_document = _document(properties["AssumeRolePolicyDocument"])
    wanted = {p["PolicyName"]: p["PolicyDocument"] for p in properties.get("Policies", [])}
    for policy_name in list(role.policies):
        if policy_name not in wanted:
            role.delete_policy(policy_name)
    for policy_name, document in wanted.items():
        role.put_policy(policy_name, document)
    managed = set(properties.get("ManagedPolicyArns", []))
    for arn in set(role.managed_policies) - managed:
        backend.detach_role_policy(arn, name)
    for arn in managed - set(role.managed_policies):
        backend.attach_role_policy(arn, name)
    return role


def install() -> None:
    iam_models.Role.update_from_cloudformation_json = classmethod(_update_role)
