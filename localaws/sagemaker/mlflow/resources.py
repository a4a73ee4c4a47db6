"""`AWS::SageMaker::MlflowTrackingServer` for moto's CloudFormation: properties checked against the
resource schema, then the server created through `models.MlflowServers` (ready: CloudFormation
waits for `Created`). `Ref` is the name, `TrackingServerArn` the schema's one attribute."""

from __future__ import annotations

from moto.core.common_models import CloudFormationModel

from localaws.cloudformation import schemas
from localaws.sagemaker.mlflow.models import TrackingServer, mlflow_servers

_KEYS = (
    "TrackingServerName", "ArtifactStoreUri", "TrackingServerSize", "MlflowVersion", "RoleArn",
    "AutomaticModelRegistration", "WeeklyMaintenanceWindowStart", "Tags",
)  # fmt: skip


class CloudFormationMlflowTrackingServer(CloudFormationModel):
    TYPE = "AWS::SageMaker::MlflowTrackingServer"

    def __init__(self, server: TrackingServer) -> None:
        self.server = server

    @staticmethod
    def cloudformation_type() -> str:
        return CloudFormationMlflowTrackingServer.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return "TrackingServerName"

    @property
    def physical_resource_id(self) -> str:
        return self.server.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in schemas.attributes(cls.TYPE)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "TrackingServerArn":
            return self.server.arn
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json.get("Properties", {})
        schemas.check(cls.TYPE, p)
        request = {k: p[k] for k in _KEYS if k in p}
        return cls(mlflow_servers(account_id, region_name).create(request, ready=True))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        p = cloudformation_json.get("Properties", {})
        schemas.check(cls.TYPE, p)
        if p["TrackingServerName"] != original_resource.server.name:  # create-only: a replacement
            created = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return created
        keys = ("ArtifactStoreUri", "TrackingServerSize", "AutomaticModelRegistration", "WeeklyMaintenanceWindowStart")
        request = {"TrackingServerName": original_resource.server.name, **{k: p[k] for k in keys if k in p}}
        mlflow_servers(account_id, region_name).update(request, ready=True)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        mlflow_servers(account_id, region_name).delete(self.server.name)
