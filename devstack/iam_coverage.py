"""Which grants of `infra/*.yaml` a run never used: least privilege, checked against what ran.

The local stack's IAM engine records every allowed request as (principal, action, resource)
(`GET /_localaws/iam/exercised`; `make demo` saves it as `.local/demo/iam-exercised.json`). This
module reads the templates' role policies, turns each (role, statement, action, resource) into a
pattern - `${...}` of an account, region, parameter or generated name becomes `*`, a bucket's
`.Arn` its name pattern - and lists the grants (role, statement, action) no recorded request
matched on any of the statement's resources. Each one left must be
justified in infra/README.md ("Grants the demo does not exercise"), or removed.

    python -m devstack.iam_coverage .local/demo/iam-exercised.json
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
_VAR = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Grant:
    template: str
    role: str  # logical id of the AWS::IAM::Role
    role_name: str  # pattern of its name (CloudFormation generates `<stack>-<LogicalId>-<suffix>`)
    sid: str
    action: str
    resources: tuple[str, ...]  # patterns, IAM wildcards: the statement's resources

    @property
    def resource(self) -> str:
        return ",".join(self.resources)

    def label(self) -> str:
        return f"{self.template} {self.role}/{self.sid or '-'} {self.action} {self.resource}"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, read as their long form (`!Sub x` -> {"Fn::Sub": x})."""


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


class _Resolver:
    """Turns a template value into an ARN pattern: what is known at deploy time only becomes `*`."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})

    def pattern(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return _VAR.sub(lambda m: self._variable(m.group(1)), text)
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical, attribute = value["Fn::GetAtt"]
            return self._attribute(logical, attribute)
        if isinstance(value, dict) and "Ref" in value:
            return self._variable(value["Ref"])
        if isinstance(value, dict) and "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(self.pattern(p) for p in parts)
        return "*"

    def _variable(self, name: str) -> str:
        if name == "AWS::Partition":
            return "aws"
        if "." in name:
            return self._attribute(*name.split(".", 1))
        return "*"

    def _attribute(self, logical: str, attribute: str) -> str:
        resource = self.resources.get(logical, {})
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        if attribute == "Arn" and kind == "AWS::S3::Bucket" and "BucketName" in props:
            return f"arn:aws:s3:::{self.pattern(props['BucketName'])}"
        if attribute == "Arn" and kind == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            return f"arn:aws:logs:*:*:log-group:{self.pattern(props['LogGroupName'])}:*"
        if attribute == "Arn" and kind == "AWS::ECR::Repository" and "RepositoryName" in props:
            return f"arn:aws:ecr:*:*:repository/{self.pattern(props['RepositoryName'])}"
        if attribute == "Arn" and kind == "AWS::IAM::Role":
            return f"arn:aws:iam::*:role/{self.role_name(logical)}"
        return "*"

    def role_name(self, logical: str) -> str:
        props = self.resources.get(logical, {}).get("Properties", {})
        if "RoleName" in props:
            return self.pattern(props["RoleName"])
        return f"*-{logical}-*"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(paths: Iterable[Path]) -> list[Grant]:
    """Every (role, statement, action) an Allow statement of a role's policy grants, with the
    statement's resources."""
    found: list[Grant] = []
    for path in paths:
        template = load_template(path)
        resolver = _Resolver(template)
        for logical, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            role_name = resolver.role_name(logical)
            for policy in resource.get("Properties", {}).get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    if not isinstance(statement, dict) or "Effect" not in statement:
                        continue  # an !If left unresolved: both branches are separate templates' business
                    if statement["Effect"] != "Allow":
                        continue
                    targets = tuple(resolver.pattern(t) for t in _listed(statement.get("Resource", "*")))
                    for action in _listed(statement.get("Action", [])):
                        found.append(Grant(path.name, logical, role_name, statement.get("Sid", ""), action, targets))
    return found


def _role_of(principal: str) -> str:
    """`arn:aws:sts::1:assumed-role/NAME/session` or `arn:aws:iam::1:role/NAME` -> NAME."""
    if ":assumed-role/" in principal:
        return principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
    if ":role/" in principal:
        return principal.rsplit("/", 1)[-1]
    return principal


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def unexercised(all_grants: Iterable[Grant], exercised: Iterable[dict[str, str]]) -> list[Grant]:
    """The grants no exercised (principal, action, resource) matched."""
    calls = [
        (_role_of(e["principal"]), e["action"], e.get("resource") or "*")
        for e in exercised
        if e.get("decision", "Allow") == "Allow"  # a refused request used no grant
    ]
    left = []
    for grant in all_grants:
        used = any(
            _matches(grant.role_name, role)
            and _matches(grant.action, action)
            and any(pattern == "*" or _matches(pattern, resource) for pattern in grant.resources)
            for role, action, resource in calls
        )
        if not used:
            left.append(grant)
    return left


README = INFRA / "README.md"
JUSTIFICATION_HEADING = "## Grants the demo does not exercise"


def justifications(readme: str) -> list[tuple[str, str, str]]:
    """(template, role, grant cell) of each row of the README's justification table."""
    _, found, rest = readme.partition(JUSTIFICATION_HEADING)
    if not found:
        return []
    rows = []
    for line in rest.split("\n## ", 1)[0].splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].endswith(".yaml"):
            rows.append((cells[0], cells[1].strip("`"), cells[2]))
    return rows


def unjustified(left: Iterable[Grant], readme: str) -> list[Grant]:
    """The unexercised grants no row justifies: a row names the template, the role and, in its
    grant cell, the statement's Sid, the action, or `all statements`."""
    rows = justifications(readme)

    def names(grant: Grant, cell: str) -> bool:
        """`all statements`; a Sid alone (its whole statement); `Sid: A, B` (those actions of it);
        or the action itself."""
        if "all statements" in cell or grant.action in cell:
            return True
        if not grant.sid or re.search(rf"\b{re.escape(grant.sid)}\b", cell) is None:
            return False
        listed = re.search(rf"\b{re.escape(grant.sid)}\b`?:\s*([^`|]*)", cell)
        if listed is None:
            return True
        short = grant.action.split(":", 1)[-1]
        return re.search(rf"\b{re.escape(short)}\b", listed.group(1)) is not None

    return [
        g
        for g in left
        if not any(template == g.template and role == g.role and names(g, cell) for template, role, cell in rows)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.iam_coverage", description=__doc__.splitlines()[0])
    parser.add_argument("exercised", type=Path, help="JSON list of {principal, action, resource}")
    parser.add_argument("--infra", type=Path, default=INFRA)
    args = parser.parse_args(argv)
    records = json.loads(args.exercised.read_text())
    records = records.get("exercised", records) if isinstance(records, dict) else records
    left = unexercised(grants(sorted(args.infra.glob("*.yaml"))), records)
    missing = unjustified(left, (args.infra / "README.md").read_text())
    for grant in left:
        print(("UNJUSTIFIED " if grant in missing else "") + grant.label())
    print(
        f"{len(left)} grant(s) never exercised, {len(missing)} of them not justified in infra/README.md",
        file=sys.stderr,
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
