"""Take one environment off the account: what bills by the hour first, the stacks last."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.settings import AWS_CONN_ID
from mlops.stacks import STACKS

DOC = """
### Infrastructure teardown
Deletes one environment's resources in reverse dependency order:

1. **confirm**: the `confirm` field must be the environment's name (`dev`, `prod`...), else the
   run fails before anything is touched.
2. **Personalize** (campaigns bill per hour, one per recipe): campaigns, then solutions with their
   versions and the event tracker, then datasets, then the dataset group and schemas; every
   resource named `<project>-recommender-<env>...`.
3. **SageMaker**: the A/B endpoint, then every endpoint config and model named after it.
4. **Stacks** (`infra/`): each deleted once the stacks that read its outputs are gone, as the
   CloudFormation service role of the deployer stack (which is kept: it is the administrator's).
   Their outputs published in SSM and the campaign parameters are deleted too.

Each deletion step is a reschedule sensor: it starts deleting what is left of its kind and
succeeds once nothing is, so a rerun (or a second run) picks up where the last one stopped and
ends at once when nothing is left. Resources with `DeletionPolicy: Retain` (the data buckets, the
A/B test ledger) outlive their stacks with their data: the `report` task lists them; delete them
by hand once the data is no longer needed.
"""

SENSOR = {"mode": "reschedule", "poke_interval": 10, "timeout": 3 * 3600}


@dag(
    dag_id="infra_teardown",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["infra", "cloudformation", "cost"],
    doc_md=DOC,
    default_args={
        # alerted while the serving stack (its topic) exists; after that the notifier only logs
        "on_failure_callback": failure_alert(),
        "owner": "platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
    },
    params={
        "environment": Param(
            "",
            enum=["", "dev", "staging", "prod"],
            title="Environment",
            description="Empty: the Variable mlops_environment, else dev.",
        ),
        "project": Param(
            "",
            type="string",
            pattern=r"^([a-z][a-z0-9-]{1,20})?$",
            title="Project name",
            description="Empty: the Variable mlops_project, else mlops.",
        ),
        "confirm": Param(
            "",
            type="string",
            title="Confirmation",
            description="Type the environment's name to delete it: nothing is deleted otherwise.",
        ),
        "stacks": Param(
            list(STACKS),
            type="array",
            items={"type": "string", "enum": list(STACKS)},
            title="Stacks to delete",
            description="Deleted in reverse dependency order; Personalize and the endpoint go in any case.",
        ),
        "role_arn": Param(
            "",
            type="string",
            title="CloudFormation service role",
            description="Empty: the Variable cloudformation_role_arn, else the deployer stack's CloudFormationRoleArn.",
        ),
    },
)
def infra_teardown():
    @task(retries=0, execution_timeout=timedelta(minutes=2))  # a wrong confirmation stays wrong
    def plan(params=None) -> dict:
        from mlops.tasks import infra_teardown as steps

        return steps.plan(params)

    @task(execution_timeout=timedelta(minutes=5))
    def inventory(plan: dict) -> dict:
        from mlops.tasks import infra_teardown as steps

        return steps.inventory(plan["stacks"], aws_conn_id=AWS_CONN_ID)

    def personalize_level(level: str):
        @task.sensor(task_id=f"delete_personalize_{level}", **SENSOR)
        def delete(plan: dict):
            from airflow.sdk import PokeReturnValue

            from mlops.tasks import infra_teardown as steps

            result = steps.delete_personalize(level, plan["prefix"], aws_conn_id=AWS_CONN_ID)
            return PokeReturnValue(is_done=result["done"], xcom_value=result)

        return delete

    @task.sensor(**SENSOR)
    def delete_endpoint(plan: dict):
        from airflow.sdk import PokeReturnValue

        from mlops.tasks import infra_teardown as steps

        result = steps.delete_endpoint(plan["endpoint"], aws_conn_id=AWS_CONN_ID)
        return PokeReturnValue(is_done=result["done"], xcom_value=result)

    @task(execution_timeout=timedelta(minutes=10))
    def delete_endpoint_configs_and_models(plan: dict) -> dict:
        from mlops.tasks import infra_teardown as steps

        return steps.delete_endpoint_configs_and_models(plan["prefix"], plan["endpoint"], aws_conn_id=AWS_CONN_ID)

    @task.sensor(**SENSOR)
    def delete_stacks(plan: dict):
        from airflow.sdk import PokeReturnValue

        from mlops.tasks import infra_teardown as steps

        result = steps.delete_stacks(plan, aws_conn_id=AWS_CONN_ID)
        return PokeReturnValue(is_done=result["done"], xcom_value=result)

    @task(execution_timeout=timedelta(minutes=5))
    def delete_published_parameters(plan: dict) -> list[str]:
        from mlops.tasks import infra_teardown as steps

        return steps.delete_published_parameters(plan, aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=5))
    def report(plan: dict, inventory: dict, deleted_parameters: list[str]) -> dict:
        from mlops.tasks import infra_teardown as steps

        return steps.report(plan, inventory, deleted_parameters, aws_conn_id=AWS_CONN_ID)

    the_plan = plan()
    listed = inventory(the_plan)
    levels = [personalize_level(level)(the_plan) for level in ("campaigns", "solutions", "datasets", "dataset_group")]
    endpoint = delete_endpoint(the_plan)
    models = delete_endpoint_configs_and_models(the_plan)
    stacks = delete_stacks(the_plan)
    parameters = delete_published_parameters(the_plan)
    for upstream, downstream in itertools.pairwise(levels):
        upstream >> downstream
    listed >> levels[0]
    listed >> endpoint >> models
    [levels[-1], models] >> stacks >> parameters
    report(the_plan, listed, parameters)


infra_teardown()
