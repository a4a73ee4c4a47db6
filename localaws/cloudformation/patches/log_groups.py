"""`AWS::Logs::LogGroup` updated in place: moto has none, so the group's `Ref` vanished from the
stack's outputs on any change. And its `Fn::GetAtt Arn` as CloudFormation returns it, with the
trailing `:*` (the form IAM policies use for the group's streams); moto returned the bare ARN, so a
policy written `!GetAtt LogGroup.Arn` granted nothing on the streams."""

from __future__ import annotations

from moto.logs import models as logs_models


def _update_log_group(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    """moto has no update for log groups (the resource, and so its Ref, vanished on any change)."""
    backend = logs_models.logs_backends[account_id][region_name]
    properties = cloudformation_json.get("Properties", {})
    if new_resource_name != original_resource.name:
        created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        backend.delete_log_group(original_resource.name)
        return created
    if properties.get("RetentionInDays"):
        backend.put_retention_policy(original_resource.name, int(properties["RetentionInDays"]))
    else:
        backend.delete_retention_policy(original_resource.name)
    return original_resource


def _cfn_attribute(original):
    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return f"{self.arn}:*"
        return original(self, attribute_name)

    return get_cfn_attribute


def install() -> None:
    logs_models.LogGroup.update_from_cloudformation_json = classmethod(_update_log_group)
    logs_models.LogGroup.get_cfn_attribute = _cfn_attribute(logs_models.LogGroup.get_cfn_attribute)
