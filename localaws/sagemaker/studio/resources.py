"""`AWS::SageMaker::Domain` and `AWS::SageMaker::UserProfile` for moto's CloudFormation: created
through `models.Studio` with the API's validation, after the properties pass the resource schema.
CloudFormation waits for them to be InService, so they are created ready. Attributes are those
the schemas declare read-only; `Ref` is the schema's primary identifier, as CloudFormation builds it
for registry types: the domain id, and "<user profile name>|<domain id>"."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from localaws.cloudformation import schemas
from localaws.sagemaker.studio.models import Domain, UserProfile, studio

_DOMAIN_KEYS = (
    "DomainName", "AuthMode", "DefaultUserSettings", "DomainSettings", "SubnetIds", "VpcId", "Tags",
    "AppNetworkAccessType", "KmsKeyId", "AppSecurityGroupManagement", "TagPropagation", "DefaultSpaceSettings",
)  # fmt: skip
_DOMAIN_UPDATABLE = (
    "DefaultUserSettings", "DefaultSpaceSettings", "AppSecurityGroupManagement", "SubnetIds",
    "AppNetworkAccessType", "TagPropagation", "VpcId",
)  # fmt: skip


def _properties(resource_type: str, cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    properties = cloudformation_json.get("Properties", {})
    schemas.check(resource_type, properties)
    return properties


class CloudFormationDomain(CloudFormationModel):
    TYPE = "AWS::SageMaker::Domain"

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    @staticmethod
    def cloudformation_type() -> str:
        return CloudFormationDomain.TYPE

    @property
    def physical_resource_id(self) -> str:
        return self.domain.domain_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in schemas.attributes(cls.TYPE)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        d = self.domain.describe()
        values = {
            "DomainArn": d["DomainArn"],
            "DomainId": d["DomainId"],
            "Url": d["Url"],
            "HomeEfsFileSystemId": d["HomeEfsFileSystemId"],
            "SecurityGroupIdForDomainBoundary": d.get("SecurityGroupIdForDomainBoundary", ""),
            "SingleSignOnManagedApplicationInstanceId": d.get("SingleSignOnManagedApplicationInstanceId", ""),
            "SingleSignOnApplicationArn": d.get("SingleSignOnApplicationArn", ""),
        }
        return values[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = _properties(cls.TYPE, cloudformation_json)
        request = {k: p[k] for k in _DOMAIN_KEYS if k in p}
        return cls(studio(account_id, region_name).create_domain(request, ready=True))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        p = _properties(cls.TYPE, cloudformation_json)
        current = original_resource.domain.request
        if any(p.get(k) != current.get(k) for k in ("DomainName", "AuthMode", "KmsKeyId")):  # create-only
            created = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return created
        request = {"DomainId": original_resource.domain.domain_id, **{k: p[k] for k in _DOMAIN_UPDATABLE if k in p}}
        if "DomainSettings" in p:
            request["DomainSettingsForUpdate"] = p["DomainSettings"]
        studio(account_id, region_name).update_domain(request, ready=True)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        studio(account_id, region_name).delete_domain(self.domain.domain_id)


class CloudFormationUserProfile(CloudFormationModel):
    TYPE = "AWS::SageMaker::UserProfile"

    def __init__(self, profile: UserProfile) -> None:
        self.profile = profile

    @staticmethod
    def cloudformation_type() -> str:
        return CloudFormationUserProfile.TYPE

    @property
    def physical_resource_id(self) -> str:
        return f"{self.profile.name}|{self.profile.domain_id}"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in schemas.attributes(cls.TYPE)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "UserProfileArn":
            return self.profile.arn
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = _properties(cls.TYPE, cloudformation_json)
        keys = (
            "DomainId",
            "UserProfileName",
            "SingleSignOnUserIdentifier",
            "SingleSignOnUserValue",
            "Tags",
            "UserSettings",
        )
        return cls(studio(account_id, region_name).create_user_profile({k: p[k] for k in keys if k in p}, ready=True))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        p = _properties(cls.TYPE, cloudformation_json)
        profile = original_resource.profile
        if (p["DomainId"], p["UserProfileName"]) != (profile.domain_id, profile.name):  # create-only: replace
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        state = studio(account_id, region_name)
        state._check_user_settings(p.get("UserSettings") or {}, "UserSettings")
        profile.request["UserSettings"] = p.get("UserSettings")
        profile.life.start("Updating", ready=True)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        studio(account_id, region_name).delete_user_profile(self.profile.domain_id, self.profile.name)
