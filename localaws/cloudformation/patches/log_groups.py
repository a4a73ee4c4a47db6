"""`AWS::Logs::LogGroup` updated in place (moto has no update, so the group's `Ref` vanished from
the stack's outputs on any change), and its `Arn` attribute as CloudFormation returns it: with the
trailing `:*` (`arn:aws:logs:r:a:log-group:NAME:*`), the form IAM policies grant log actions on."""

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


def _get_cfn_attribute(self, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return f"{self.arn}:*"
    return _moto_get_cfn_attribute(self, attribute_name)


_moto_get_cfn_attribute = logs_models.LogGroup.get_cfn_attribute


def install() -> None:
    logs_models.LogGroup.update_from_cloudformation_json = classmethod(_update_log_group)
    logs_models.LogGroup.get_cfn_attribute = _get_cfn_attribute
