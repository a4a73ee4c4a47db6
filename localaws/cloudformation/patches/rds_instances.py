"""`AWS::RDS::DBInstance` with its RDS-managed master user secret (`ManageMasterUserPassword`,
`Fn::GetAtt Database.MasterUserSecret.SecretArn`), which moto's CloudFormation ignores."""

from __future__ import annotations

from moto.rds import models as rds_models


def _create_db_instance(original):
    """moto's CloudFormation ignores `ManageMasterUserPassword` and has no `MasterUserSecret.SecretArn`."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        instance = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        if str(properties.get("ManageMasterUserPassword", "false")).lower() == "true":
            instance.update(
                manage_master_user_password=True,
                master_user_secret_kms_key_id=properties.get("MasterUserSecret", {}).get("KmsKeyId"),
            )
        return instance

    return classmethod(create)


def _db_instance_attribute(original):
    def get_cfn_attribute(self, attribute_name):
        if attribute_name == "MasterUserSecret.SecretArn" and getattr(self, "master_user_secret", None):
            return self.master_user_secret.secret.arn
        return original(self, attribute_name)

    return get_cfn_attribute


def install() -> None:
    db_instance = rds_models.DBInstance
    db_instance.create_from_cloudformation_json = _create_db_instance(db_instance.create_from_cloudformation_json)
    db_instance.get_cfn_attribute = _db_instance_attribute(db_instance.get_cfn_attribute)
    db_instance.has_cfn_attr = classmethod(
        lambda cls, attr: attr in ("Endpoint.Address", "Endpoint.Port", "MasterUserSecret.SecretArn")
    )
