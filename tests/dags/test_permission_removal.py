"""A grant removed from a template makes the job that needs it fail, saying which action was refused.

With IAM enforced, the preprocessing stack is deployed with `s3:PutObject` taken out of its task
role's `WriteOutput` statement; monthly_preprocessing then fails in its Fargate job, whose log (in
the task log) carries S3's AccessDenied naming the role, `s3:PutObject` and the output object.
The stack is deployed back with the real template afterwards, and the role holds the grant again.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import WaiterError

from tests.dags.conftest import states
from tests.dags.test_monthly_preprocessing import land

pytestmark = pytest.mark.slow
DAG_ID = "monthly_preprocessing"
TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "preprocessing.yaml"
STACK = "mlops-preprocessing-dev"
WRITE_OUTPUT = "Action: [s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload]"


def without_put_on_output(template: str) -> str:
    """The template with s3:PutObject removed from the task role's WriteOutput statement only."""
    head, sid, rest = template.partition("- Sid: WriteOutput")
    assert sid and rest.count(WRITE_OUTPUT) >= 1, "preprocessing.yaml's WriteOutput statement changed"
    return head + sid + rest.replace(WRITE_OUTPUT, WRITE_OUTPUT.replace(" s3:PutObject,", ""), 1)


def deploy(stack, template: str, parameters: dict[str, str]) -> None:
    """Update the deployed stack with `template` and the parameters infra_bootstrap gives it,
    through a change set, as infra_bootstrap does."""
    cfn = stack.client("cloudformation")
    name = f"permission-test-{uuid.uuid4().hex[:8]}"
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        ChangeSetType="UPDATE",
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.get_waiter("change_set_create_complete").wait(
        StackName=STACK, ChangeSetName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    cfn.execute_change_set(StackName=STACK, ChangeSetName=name)
    try:
        cfn.get_waiter("stack_update_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except WaiterError:
        events = cfn.describe_stack_events(StackName=STACK)["StackEvents"]
        reasons = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]
        pytest.fail(f"update of {STACK} failed: {reasons[:5]}")


def task_role_actions(stack) -> set[str]:
    iam = stack.client("iam")
    role = next(r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{STACK}-PreprocessingTaskRole-"))
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="preprocessing-data")["PolicyDocument"]
    if isinstance(document, str):  # moto answers a CloudFormation-made inline policy as a Python repr
        try:
            document = json.loads(document)
        except ValueError:
            document = ast.literal_eval(document)
    output = next(s for s in document["Statement"] if s.get("Sid") == "WriteOutput")
    return set(output["Action"])


def test_removing_put_on_the_output_bucket_fails_preprocessing_with_access_denied(
    dag, airflow_db, account, platform, aws_conn, capfd
):
    assert aws_conn.enforce_iam, "this test needs IAM enforced (LOCALAWS_IAM is off)"
    original = TEMPLATE.read_text()
    from include.images import image_tag

    tags = {"IngestImageTag": image_tag("raw-ingest"), "PreprocessingImageTag": image_tag("preprocessing")}
    parameters = {"Environment": "dev", **account["preprocessing"], **tags}  # as infra_bootstrap gives them
    land(aws_conn, platform["InputBucket"], "2011-10")
    deploy(aws_conn, without_put_on_output(original), parameters)
    try:
        assert "s3:PutObject" not in task_role_actions(aws_conn)
        dag.get_task("preprocess").retries = 0
        dag.get_task("fit_model").retries = 0
        dag_run = dag.test(run_conf={"month": "2011-10", "refit_model": True})
        got = states(dag_run)
        assert dag_run.state == "failed", got
        assert got["fit_model"] == "success", got  # the fit writes under preprocessing/model/: still granted
        assert got["preprocess"] == "failed" and got["check_quality"] == "upstream_failed", got
        logged = "".join(capfd.readouterr())
        assert "AccessDenied" in logged, logged[-3000:]
        assert "PreprocessingTaskRole" in logged and "is not authorized to perform: s3:PutObject" in logged
        assert f"arn:aws:s3:::{platform['OutputBucket']}/processed/month=2011-10/" in logged
    finally:
        deploy(aws_conn, original, parameters)
    assert "s3:PutObject" in task_role_actions(aws_conn)
