"""The CI/CD workflow's deploy and smoke steps (`.github/workflows/release.yaml`), runnable anywhere.

    python -m devstack.release deploy --env dev [--parameters-file FILE] [--role-arn ARN]
    python -m devstack.release smoke --env dev [--require-recommendations]

`deploy` deploys the platform's stacks exactly as the infra_bootstrap DAG does, with the same code:
`mlops.stacks` (templates, order, parameters), `CloudFormationDeployOperator` (change sets: created
when absent, executed only when they hold changes, failures explained by the stack events) run
without deferral, the recommendation API's package uploaded content-addressed, and each stack's
outputs published to SSM with `PublishStackOutputsOperator`. The workflow authenticates by OIDC, so
credentials come from the environment (boto3's chain); `--aws-conn-id` uses an Airflow connection
instead (the test's local stack). Account parameters (VPC, subnets, drop bucket) come from
`--parameters-file` or the `INFRA_PARAMETERS` environment variable (JSON per stack, as the
`infra_parameters` Variable).

`smoke` calls the deployed recommendation API over HTTP as a client would: without the key it must
be refused (403), with the key a malformed request must be answered 400 by the function, and a real
request 200 with items, or 503 "not available yet" while no campaign is published (a failure with
`--require-recommendations`). Exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

from devstack import PROJECT_ROOT


def _parameters(args) -> dict[str, dict[str, str]]:
    if args.parameters_file:
        return json.loads(Path(args.parameters_file).read_text())
    return json.loads(os.environ.get("INFRA_PARAMETERS") or "{}")


def _context(run_id: str) -> dict[str, Any]:
    """What the operators read from an Airflow context: the run id and try number name change sets."""
    return {"run_id": run_id, "ti": types.SimpleNamespace(try_number=1)}


def deploy(args) -> dict[str, dict[str, Any]]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from mlops.deployment import Deployment
    from mlops.hooks.cloudformation import CloudFormationStackHook
    from mlops.hooks.stack_outputs import StackOutputsHook
    from mlops.lambda_package import upload_package
    from mlops.operators.cloudformation import CloudFormationDeployOperator, PublishStackOutputsOperator
    from mlops.stacks import DEFAULT_STACKS, STACKS, deletion_order, template_parameters

    deployment = Deployment(args.project, args.env)
    conn = args.aws_conn_id
    base = _parameters(args)
    unknown = sorted(set(base) - set(STACKS))
    if unknown:
        raise SystemExit(f"parameters for unknown stacks {unknown}; known: {sorted(STACKS)}")
    role_arn = args.role_arn
    if not role_arn:
        deployer = CloudFormationStackHook(aws_conn_id=conn).get_stack(f"{args.project}-deployer-{args.env}")
        role_arn = CloudFormationStackHook.outputs_of(deployer or {}).get("CloudFormationRoleArn", "")
        if not role_arn:
            raise SystemExit(
                f"no CloudFormation service role: stack {args.project}-deployer-{args.env} (infra/deployer.yaml) "
                "has no CloudFormationRoleArn output; deploy it or pass --role-arn"
            )
    run_id = args.run_id or f"release-{int(time.time())}"
    tags = {"project": deployment.project, "environment": deployment.environment, "managed-by": "ci/release"}
    selected = args.stacks or DEFAULT_STACKS
    done: dict[str, dict[str, Any]] = {}
    for key in reversed(deletion_order(selected)):  # dependency order
        spec = STACKS[key]
        parameters = {**template_parameters(key, deployment), **base.get(key, {})}
        if "package" in spec:
            bucket = StackOutputsHook(aws_conn_id=conn, prefix=deployment.stack_outputs_prefix).get_outputs(
                "platform", required=("BucketName",)
            )["BucketName"]
            parameters["CodeKey"] = upload_package(
                S3Hook(aws_conn_id=conn).get_conn(), PROJECT_ROOT / spec["package"], bucket
            )
        operator = CloudFormationDeployOperator(
            task_id=f"deploy_{key.replace('-', '_')}",
            aws_conn_id=conn,
            stack_name=deployment.stack_name(key),
            template_body=(PROJECT_ROOT / spec["template"]).read_text(),
            parameters=parameters,
            tags=tags,
            role_arn=role_arn,
            deferrable=False,
            waiter_delay=args.wait_seconds,
            change_set_delay=max(1, args.wait_seconds // 3),
        )
        result = operator.execute(_context(run_id))
        PublishStackOutputsOperator(
            task_id=f"publish_{key.replace('-', '_')}",
            aws_conn_id=conn,
            stack_name=deployment.stack_name(key),
            stack_key=key,
            outputs_prefix=deployment.stack_outputs_prefix,
        ).execute(_context(run_id))
        done[key] = {k: result[k] for k in ("stack_name", "status", "action")}
        print(f"{key:<18} {result['stack_name']:<32} {result['action']:<9} {result['status']}", flush=True)
    return done


def smoke(args) -> list[str]:
    """The API checks; returns the failures (empty: all passed)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from devstack.api_client import get_recommendations
    from mlops.deployment import Deployment
    from mlops.hooks.stack_outputs import StackOutputsHook

    deployment = Deployment(args.project, args.env)
    outputs = StackOutputsHook(aws_conn_id=args.aws_conn_id, prefix=deployment.stack_outputs_prefix).get_outputs(
        "personalize", required=("ApiUrl", "ApiKeyId")
    )
    apigateway = AwsBaseHook(aws_conn_id=args.aws_conn_id, client_type="apigateway").get_conn()
    key = apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    url = outputs["ApiUrl"]
    if args.endpoint_url:  # the local stack answers API Gateway on its own address
        from localaws.apigateway import local_invoke_url

        url = local_invoke_url(args.endpoint_url, url)
    cafile = args.ca_bundle or None
    failures = []

    def check(what: str, status: int, body: dict, allowed: tuple[int, ...]) -> None:
        ok = status in allowed
        print(f"{'ok  ' if ok else 'FAIL'} {what}: HTTP {status} {json.dumps(body)[:200]}", flush=True)
        if not ok:
            failures.append(f"{what}: HTTP {status}, expected {' or '.join(map(str, allowed))}: {body}")

    status, body, _ = get_recommendations(url, None, args.user, cafile=cafile)
    check("without the API key the request is refused", status, body, (403,))
    status, body, _ = get_recommendations(url, key, args.user, num_results=0, cafile=cafile)
    check("a malformed request is answered by the function", status, body, (400,))
    status, body, _ = get_recommendations(url, key, args.user, num_results=5, cafile=cafile)
    check("recommendations for a user", status, body, (200,) if args.require_recommendations else (200, 503))
    if status == 200 and not body.get("items"):
        failures.append(f"recommendations for a user: HTTP 200 without items: {body}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.release", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("deploy", "smoke"):
        command = sub.add_parser(name)
        command.add_argument("--env", required=True, choices=["dev", "staging", "prod"])
        command.add_argument("--project", default="mlops")
        command.add_argument("--aws-conn-id", default=None, help="an Airflow connection; default: boto3's chain")
    deploy_ = sub.choices["deploy"]
    deploy_.add_argument("--parameters-file", help="JSON per stack; default: $INFRA_PARAMETERS")
    deploy_.add_argument("--role-arn", default="", help="default: the deployer stack's CloudFormationRoleArn")
    deploy_.add_argument("--stacks", nargs="*", help="default: the stacks infra_bootstrap deploys by default")
    deploy_.add_argument("--run-id", default=os.environ.get("GITHUB_RUN_ID", ""), help="names the change sets")
    deploy_.add_argument("--wait-seconds", type=int, default=15)
    smoke_ = sub.choices["smoke"]
    smoke_.add_argument("--user", default="12347", help="the user id to ask recommendations for")
    smoke_.add_argument("--require-recommendations", action="store_true", help="a 503 (no campaign yet) fails")
    smoke_.add_argument("--endpoint-url", default="", help="the local stack's URL (API Gateway's path form)")
    smoke_.add_argument("--ca-bundle", default=os.environ.get("AWS_CA_BUNDLE", ""))
    args = parser.parse_args(argv)
    if args.command == "deploy":
        deploy(args)
        return 0
    failures = smoke(args)
    for failure in failures:
        print(f"smoke test failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
