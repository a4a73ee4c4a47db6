"""Corrections to moto 5.2.5's CloudFormation where the DAGs' idempotent deploys depend on AWS's
behaviour, one module per concern, installed once per process by `install()`:

- `change_sets`: "no changes" decided on effective values, `Modify` for resources using a changed
  parameter, outputs and parameters kept after execution;
- `parameters`: parameters reported as AWS does (`List<>` as "a,b", SSM-typed ones as their path);
- `rollback`: a resource that cannot be created fails the stack (`ROLLBACK_COMPLETE`), not a 500;
- `unmodelled`: a resource type nothing models fails its resource (nothing is only recorded);
- `apigateway`: every `AWS::ApiGateway::*` type the templates use created, schema-checked;
- `get_att`: `!GetAtt A.B.C` split at the first dot only;
- `s3_buckets`, `log_groups`, `rds_instances`, `ecs_task_definitions`, `iam_roles`, `security_groups`: resource
  properties and updates moto's CloudFormation ignores.
"""

from __future__ import annotations

from localaws.cloudformation.patches import (
    apigateway,
    change_sets,
    ecs_task_definitions,
    get_att,
    iam_roles,
    log_groups,
    parameters,
    rds_instances,
    rollback,
    s3_buckets,
    security_groups,
    unmodelled,
)

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    get_att.install()
    change_sets.install()
    rollback.install()
    unmodelled.install()
    parameters.install()
    s3_buckets.install()
    log_groups.install()
    iam_roles.install()
    rds_instances.install()
    ecs_task_definitions.install()
    security_groups.install()
    apigateway.install()
    _installed = True
