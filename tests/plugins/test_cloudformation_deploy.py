"""CloudFormationDeployOperator against the local stack, run in DAGs with `dag.test()` so that its
deferred waits run their triggers: create, no-op rerun, update, failure, recovery, throttling."""

from __future__ import annotations

import json
import uuid

import pendulum
import pytest

from mlops.operators.cloudformation import CloudFormationDeployOperator, PublishStackOutputsOperator
from tests.conftest import run_dag

pytestmark = pytest.mark.slow

TEMPLATE = {
    "Parameters": {
        "Suffix": {"Type": "String"},
        "Retention": {"Type": "Number", "Default": 7},
    },
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "cfn-test-${Suffix}"}}},
        "Setting": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": {"Fn::Sub": "/cfn-test/${Suffix}/retention"},
                "Type": "String",
                "Value": {"Ref": "Retention"},
            },
        },
    },
    "Outputs": {
        "BucketName": {"Value": {"Ref": "Bucket"}},
        "Retention": {"Value": {"Ref": "Retention"}},
    },
}


def run_deploy(stack_name: str, template: dict, parameters: dict, **kwargs):
    from airflow.sdk import DAG

    with DAG(
        dag_id=f"cfn_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")
    ) as dag:
        CloudFormationDeployOperator(
            task_id="deploy",
            stack_name=stack_name,
            template_body=json.dumps(template),
            parameters=parameters,
            tags={"purpose": "test"},
            waiter_delay=1,
            change_set_delay=1,
            retries=0,
            **kwargs,
        )
    run = run_dag(dag)
    return run, result_of(run, "deploy")


def result_of(run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def events(stack, stack_name: str) -> list[tuple[str, str]]:
    described = stack.client("cloudformation").describe_stack_events(StackName=stack_name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in described]


@pytest.fixture
def name():
    return f"cfn-test-{uuid.uuid4().hex[:8]}"


def test_create_then_noop_then_update(admin_conn, airflow_db, name, capfd):
    suffix = name.removeprefix("cfn-test-")
    run, result = run_deploy(name, TEMPLATE, {"Suffix": suffix})
    assert run.state == "success"
    assert result["action"] == "created"
    assert result["status"] == "CREATE_COMPLETE"
    assert result["outputs"] == {"BucketName": f"cfn-test-{suffix}", "Retention": "7"}
    stack = admin_conn.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    assert {"Key": "purpose", "Value": "test"} in stack["Tags"]

    before = events(admin_conn, name)
    run, result = run_deploy(name, TEMPLATE, {"Suffix": suffix})
    assert (run.state, result["action"], result["status"]) == ("success", "unchanged", "CREATE_COMPLETE")
    assert events(admin_conn, name) == before, "a rerun with no changes must not touch the stack"
    summaries = admin_conn.client("cloudformation").list_change_sets(StackName=name)["Summaries"]
    left = [
        c["ChangeSetName"] for c in summaries if c["StackName"] == name and c["ExecutionStatus"] != "EXECUTE_COMPLETE"
    ]
    assert left == [], "the no-op change set must be deleted"
    assert "is up to date" in capfd.readouterr().out

    run, result = run_deploy(name, TEMPLATE, {"Suffix": suffix, "Retention": "30"})
    assert (run.state, result["action"], result["status"]) == ("success", "updated", "UPDATE_COMPLETE")
    assert result["outputs"]["Retention"] == "30"
    assert "Modify  Setting [AWS::SSM::Parameter]" in capfd.readouterr().out
    value = admin_conn.client("ssm").get_parameter(Name=f"/cfn-test/{suffix}/retention")["Parameter"]["Value"]
    assert value == "30"

    # Parameters not given keep their previous value (UsePreviousValue), as on AWS.
    run, result = run_deploy(name, TEMPLATE, {})
    assert (result["action"], result["outputs"]["Retention"]) == ("unchanged", "30")


def test_failed_create_fails_with_the_resource_and_reason_then_recovers(admin_conn, airflow_db, name, capfd):
    taken = f"cfn-test-taken-{uuid.uuid4().hex[:6]}"
    admin_conn.client("s3").create_bucket(Bucket=taken)
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": taken}}},
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
    }
    run, _ = run_deploy(name, template, {})
    assert run.state == "failed"
    log = capfd.readouterr().out
    assert f"deployment of stack {name} ended in ROLLBACK_COMPLETE" in log
    assert "Bucket [AWS::S3::Bucket] CREATE_FAILED: BucketExists: " in log

    run, _ = run_deploy(name, template, {})
    assert run.state == "failed"
    log = capfd.readouterr().out
    assert "is ROLLBACK_COMPLETE (its creation failed)" in log
    assert "recover_rollback_complete" in log

    fixed = json.loads(json.dumps(template).replace(taken, f"{taken}-2"))
    run, result = run_deploy(name, fixed, {}, recover_rollback_complete=True)
    assert (run.state, result["action"]) == ("success", "created")
    assert result["outputs"] == {"BucketName": f"{taken}-2"}


def test_throttled_calls_are_retried(admin_conn, airflow_db, name):
    admin_conn.faults.arm_api("cloudformation", "CreateChangeSet", count=2)
    admin_conn.faults.arm_api("cloudformation", "DescribeStacks", count=1)
    run, result = run_deploy(name, TEMPLATE, {"Suffix": name.removeprefix("cfn-test-")})
    assert (run.state, result["action"]) == ("success", "created")
    assert admin_conn.faults.snapshot()["api"] == []


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"Suffix": "x", "NotAParameter": "1"},
            "['NotAParameter'] are not declared (declared: ['Retention', 'Suffix'])",
        ),
        ({}, "['Suffix'] have no default and were not given"),
    ],
    ids=["unknown", "missing"],
)
def test_parameters_that_do_not_fit_the_template_fail_before_any_change(
    admin_conn, airflow_db, name, capfd, parameters, message
):
    run, _ = run_deploy(name, TEMPLATE, parameters)
    assert run.state == "failed"
    assert f"parameters of stack {name} do not match its template: {message}" in capfd.readouterr().out
    change_sets = admin_conn.client("cloudformation").list_change_sets(StackName=name)["Summaries"]
    assert change_sets == [] or all(c["StackName"] != name for c in change_sets)


def test_publish_writes_only_what_changed_and_removes_stale_outputs(admin_conn, airflow_db, name):
    from airflow.sdk import DAG

    suffix = name.removeprefix("cfn-test-")
    run_deploy(name, TEMPLATE, {"Suffix": suffix})
    ssm = admin_conn.client("ssm")
    ssm.put_parameter(Name=f"/mlops/dev/stacks/{name}/Removed", Value="old", Type="String")

    def publish():
        with DAG(dag_id=f"pub_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
            PublishStackOutputsOperator(task_id="publish", stack_name=name, stack_key=name, retries=0)
        run = run_dag(dag)
        return run, result_of(run, "publish")

    run, first = publish()
    assert run.state == "success"
    assert first["deleted"] == [f"/mlops/dev/stacks/{name}/Removed"]
    assert sorted(first["written"]) == [f"/mlops/dev/stacks/{name}/BucketName", f"/mlops/dev/stacks/{name}/Retention"]
    _, second = publish()
    assert second["written"] == [] and second["deleted"] == []
    version = ssm.get_parameter(Name=f"/mlops/dev/stacks/{name}/BucketName")["Parameter"]["Version"]
    assert version == 1
