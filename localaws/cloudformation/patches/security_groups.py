"""`AWS::EC2::SecurityGroup` with its `SecurityGroupEgress`: moto's CloudFormation ignores it, so a
group kept EC2's default allow-all egress whatever the template said. As on AWS, rules given in
the template replace that default; each goes through EC2's own AuthorizeSecurityGroupEgress
(CIDR and rule checks)."""

from __future__ import annotations

from moto.ec2.models import ec2_backends
from moto.ec2.models import security_groups as sg_models


def _create_security_group(original):
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        group = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        rules = cloudformation_json.get("Properties", {}).get("SecurityGroupEgress")
        if rules is None:
            return group
        backend = ec2_backends[account_id][region_name]
        group.egress_rules = []
        for rule in rules:
            destination = rule.get("DestinationSecurityGroupId")
            backend.authorize_security_group_egress(
                group_name_or_id=group.id,
                ip_protocol=str(rule["IpProtocol"]),
                from_port=rule.get("FromPort"),
                to_port=rule.get("ToPort"),
                ip_ranges=[{"CidrIp": rule["CidrIp"]}] if rule.get("CidrIp") else [],
                source_groups=[{"GroupId": destination}] if destination else [],
                prefix_list_ids=[{"PrefixListId": rule["DestinationPrefixListId"]}]
                if rule.get("DestinationPrefixListId")
                else [],
                vpc_id=group.vpc_id,
            )
        return group

    return classmethod(create)


def install() -> None:
    group = sg_models.SecurityGroup
    group.create_from_cloudformation_json = _create_security_group(group.create_from_cloudformation_json)
