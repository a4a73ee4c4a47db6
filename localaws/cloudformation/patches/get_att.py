"""`!GetAtt A.B.C` split at the first dot only, as CloudFormation does (moto splits at every dot,
which breaks `Database.Endpoint.Address` and `Database.MasterUserSecret.SecretArn`)."""

from __future__ import annotations

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.utils import yaml_tag_constructor as cfn_utils_yaml_tag_constructor


def _yaml_tag_constructor(loader, tag, node):
    """moto splits `!GetAtt A.B.C` at every dot; CloudFormation splits at the first only
    (`Database.Endpoint.Address`, `Database.MasterUserSecret.SecretArn`)."""
    if tag == "!GetAtt" and not isinstance(node.value, list):
        return {"Fn::GetAtt": node.value.split(".", 1)}
    return cfn_utils_yaml_tag_constructor(loader, tag, node)


def install() -> None:
    cfn_models.yaml_tag_constructor = _yaml_tag_constructor
    cfn_utils.yaml_tag_constructor = _yaml_tag_constructor
    cfn_responses.yaml_tag_constructor = _yaml_tag_constructor
