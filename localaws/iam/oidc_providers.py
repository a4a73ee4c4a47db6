"""`AWS::IAM::OIDCProvider` for moto's CloudFormation (moto's IAM has the API, not the resource
type): the properties pass the resource schema, then moto's `CreateOpenIDConnectProvider` with its
validation (URL, thumbprints, client ids) creates it. `Ref` and `Arn` are the provider's ARN. IAM
allows one provider per URL in an account, so a second one for the same URL fails its resource."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from localaws.cloudformation import resource_types, schemas


def _iam(account_id: str, region_name: str):
    return iam_backends[account_id][get_partition(region_name)]


class CloudFormationOidcProvider(CloudFormationModel):
    TYPE = "AWS::IAM::OIDCProvider"

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return CloudFormationOidcProvider.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in schemas.attributes(cls.TYPE)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p: dict[str, Any] = cloudformation_json.get("Properties", {})
        schemas.check(cls.TYPE, p)
        iam = _iam(account_id, region_name)
        url = p["Url"]
        arn = f"arn:{get_partition(region_name)}:iam::{account_id}:oidc-provider/{url.removeprefix('https://')}"
        if arn in iam.open_id_providers:
            raise ValueError(f"Provider with url {url} already exists.")
        provider = iam.create_open_id_connect_provider(
            url, list(p.get("ThumbprintList") or []), list(p.get("ClientIdList") or []), list(p.get("Tags") or [])
        )
        return cls(provider.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        p = cloudformation_json.get("Properties", {})
        schemas.check(cls.TYPE, p)
        provider = _iam(account_id, region_name).get_open_id_connect_provider(original_resource.arn)
        if p["Url"].removeprefix("https://") != provider.url.removeprefix("https://"):  # Url is create-only
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        provider.thumbprint_list = list(p.get("ThumbprintList") or [])
        provider.client_id_list = list(p.get("ClientIdList") or [])
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        _iam(account_id, region_name).delete_open_id_connect_provider(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _iam(account_id, region_name).delete_open_id_connect_provider(self.arn)


def install() -> None:
    """Make moto's CloudFormation see the resource type."""
    resource_types.refresh()
