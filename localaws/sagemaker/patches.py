"""CreateModel's `VpcConfig` checked as SageMaker does (moto keeps it unchecked): 1-16 subnets and 1-5
security groups that exist, all in one VPC.

`AWS::SageMaker::FeatureGroup` for moto's CloudFormation, which has no model for it (and, by
importing them before moto's model lists are refreshed, the Studio and MLflow resource types).

The platform stack's feature groups must exist in the local SageMaker so that `DescribeFeatureGroup`
answers and the local Feature Store runtime validates records against their definitions. The
group is stored through moto's own `create_feature_group`; moto drops `OnlineStoreConfig`, which
decides where `PutRecord` writes, so it is kept beside it and added to `DescribeFeatureGroup`.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sagemaker import models as sagemaker_models

from localaws.cloudformation import resource_types
from localaws.sagemaker.mlflow import resources as mlflow_resources  # noqa: F401 - registers its CloudFormation type
from localaws.sagemaker.studio import resources as studio_resources  # noqa: F401 - registers its CloudFormation types

_installed = False


def backend(account_id: str, region: str):
    return sagemaker_models.sagemaker_backends[account_id][region]


def find_feature_group(account_id: str, region: str, name_or_arn: str):
    """The moto feature group named (or ARN'd) so, or None."""
    for group in backend(account_id, region).feature_groups.values():
        if name_or_arn in (group.feature_group_name, group.arn):
            return group
    return None


class CloudFormationFeatureGroup(CloudFormationModel):
    def __init__(self, group: Any) -> None:
        self.group = group

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::FeatureGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "FeatureGroupName"

    @property
    def physical_resource_id(self) -> str:
        return self.group.feature_group_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FeatureGroupName", "Arn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.group.arn
        if attribute_name == "FeatureGroupName":
            return self.group.feature_group_name
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        name = p.get("FeatureGroupName") or resource_name
        sm = backend(account_id, region_name)
        sm.create_feature_group(
            feature_group_name=name,
            record_identifier_feature_name=p["RecordIdentifierFeatureName"],
            event_time_feature_name=p["EventTimeFeatureName"],
            feature_definitions=[
                {"FeatureName": d["FeatureName"], "FeatureType": d["FeatureType"]} for d in p["FeatureDefinitions"]
            ],
            offline_store_config=copy.deepcopy(p.get("OfflineStoreConfig") or {"S3StorageConfig": {"S3Uri": ""}}),
            role_arn=p.get("RoleArn", ""),
            tags=p.get("Tags", []),
        )
        group = find_feature_group(account_id, region_name, name)
        group.online_store_config = copy.deepcopy(p.get("OnlineStoreConfig") or {"EnableOnlineStore": False})
        group.description = p.get("Description")
        return cls(group)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # Feature definitions can only be added on AWS; the platform stack changes none: keep the group.
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        group = find_feature_group(account_id, region_name, resource_name)
        if group is not None:
            backend(account_id, region_name).feature_groups.pop(group.arn, None)


def _describe_with_online_store(describe):
    def wrapper(self) -> dict[str, Any]:
        out = describe(self)
        online = getattr(self, "online_store_config", None)
        if online is not None:
            out["OnlineStoreConfig"] = online
        if getattr(self, "description", None):
            out["Description"] = self.description
        return out

    return wrapper


def _check_vpc_config(account_id: str, region: str, vpc_config: dict[str, Any] | None) -> None:
    from moto.ec2.models import ec2_backends
    from moto.sagemaker.exceptions import ValidationError

    if vpc_config is None:
        return
    subnets, groups = vpc_config.get("Subnets") or [], vpc_config.get("SecurityGroupIds") or []
    if not 1 <= len(subnets) <= 16 or not 1 <= len(groups) <= 5:
        raise ValidationError(
            f"VpcConfig needs 1-16 Subnets and 1-5 SecurityGroupIds, got {len(subnets)} and {len(groups)}"
        )
    ec2 = ec2_backends[account_id][region]
    vpcs = set()
    for subnet_id in subnets:
        try:
            vpcs.add(ec2.get_subnet(subnet_id).vpc_id)
        except Exception as err:  # moto's InvalidSubnetIdError
            raise ValidationError(f"VpcConfig: subnet {subnet_id} does not exist") from err
    for group_id in groups:
        group = ec2.get_security_group_from_id(group_id)
        if group is None:
            raise ValidationError(f"VpcConfig: security group {group_id} does not exist")
        vpcs.add(group.vpc_id)
    if len(vpcs) != 1:
        raise ValidationError(f"VpcConfig: the subnets and security groups are in different VPCs {sorted(vpcs)}")


def _create_model_checking_vpc(original):
    def create_model(self, model_name, execution_role_arn, primary_container, vpc_config, containers, tags):
        _check_vpc_config(self.account_id, self.region_name, vpc_config)
        return original(self, model_name, execution_role_arn, primary_container, vpc_config, containers, tags)

    return create_model


def install() -> None:
    global _installed
    if _installed:
        return
    backend_class = sagemaker_models.SageMakerModelBackend
    backend_class.create_model = _create_model_checking_vpc(backend_class.create_model)
    sagemaker_models.FeatureGroup.describe = _describe_with_online_store(sagemaker_models.FeatureGroup.describe)
    resource_types.refresh()
    _installed = True
