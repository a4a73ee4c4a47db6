"""`!GetAtt` as CloudFormation resolves it.

- `!GetAtt A.B.C` splits at the first dot only (moto splits at every dot, which breaks
  `Database.Endpoint.Address` and `Database.MasterUserSecret.SecretArn`).
- An attribute moto does not implement fails the resource with the attribute named; moto only logs
  a warning and hands the unresolved `{"Fn::GetAtt": ...}` on as the value (an alarm dimension, an
  environment variable), which no AWS deployment could produce.
- `AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancerFullName` (`app/<name>/<id>`, the
  `LoadBalancer` dimension of its CloudWatch metrics), which moto lacks.
"""

from __future__ import annotations

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.utils import yaml_tag_constructor as cfn_utils_yaml_tag_constructor
from moto.elbv2.models import FakeLoadBalancer


def _yaml_tag_constructor(loader, tag, node):
    """moto splits `!GetAtt A.B.C` at every dot; CloudFormation splits at the first only
    (`Database.Endpoint.Address`, `Database.MasterUserSecret.SecretArn`)."""
    if tag == "!GetAtt" and not isinstance(node.value, list):
        return {"Fn::GetAtt": node.value.split(".", 1)}
    return cfn_utils_yaml_tag_constructor(loader, tag, node)


def _load_balancer_attribute(original):
    def get_cfn_attribute(self, attribute_name: str):
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return original(self, attribute_name)

    return get_cfn_attribute


def _strict_clean_json(original):
    def clean_json(resource_json, resources_map):
        if isinstance(resource_json, dict) and "Fn::GetAtt" in resource_json:
            name, attribute = resource_json["Fn::GetAtt"][0], resource_json["Fn::GetAtt"][1]
            resource = resources_map.get(name)
            if resource is not None and isinstance(attribute, str) and hasattr(resource, "get_cfn_attribute"):
                try:
                    resource.get_cfn_attribute(attribute)
                except NotImplementedError:
                    raise ValidationError(
                        message=f"Template error: Fn::GetAtt {name}.{attribute} is not resolved by the local "
                        "stack (moto does not implement the attribute); the resource cannot be created with it"
                    ) from None
                except Exception:  # noqa: S110 - moto's own handling below reports the other errors
                    pass
        return original(resource_json, resources_map)

    return clean_json


def install() -> None:
    if getattr(parsing, "_localaws_get_att", False):
        return
    cfn_models.yaml_tag_constructor = _yaml_tag_constructor
    cfn_utils.yaml_tag_constructor = _yaml_tag_constructor
    cfn_responses.yaml_tag_constructor = _yaml_tag_constructor
    FakeLoadBalancer.get_cfn_attribute = _load_balancer_attribute(FakeLoadBalancer.get_cfn_attribute)
    parsing.clean_json = _strict_clean_json(parsing.clean_json)
    parsing._localaws_get_att = True
