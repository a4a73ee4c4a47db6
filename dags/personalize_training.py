"""Keep an Amazon Personalize campaign fresh: import, train, gate on metrics, update the campaign."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import PROCESSED_MONTH
from mlops.operators.personalize import (
    PersonalizeCreateDatasetGroupOperator,
    PersonalizeCreateDatasetOperator,
    PersonalizeCreateEventTrackerOperator,
    PersonalizeCreateSchemaOperator,
    PersonalizeCreateSolutionOperator,
    PersonalizeDatasetImportOperator,
    PersonalizeDeployCampaignOperator,
    PersonalizeSolutionMetricsOperator,
    PersonalizeTrainSolutionVersionOperator,
)
from mlops.params import month_param
from mlops.settings import AWS_CONN_ID, MLFLOW_CONN_ID, PERSONALIZE_EXPERIMENT

PLAN = "ti.xcom_pull(task_ids='plan')"

DOC = """
### Personalize training
Runs when a month has been preprocessed (the `online_retail_processed_month` Asset) or by hand.

1. **plan** - the month (Param, Asset event, or the month before the run), the window of processed
   months, the personalize stack's data bucket and role; resource names (a rerun finds them).
2. **validate_and_stage** - before any spend: the schema's columns, no empty ids, epoch-second
   timestamps, at least 1,000 interactions and 25 users with two or more (a clear error
   otherwise); then one CSV of the window in the Personalize data bucket.
3. **dataset_group / schema / dataset / import** - describe-or-create, each waiting in the triggerer.
4. **solution / train** - the recipe's solution and a new version (`training_mode` FULL, or UPDATE
   where the recipe allows it); **metrics** - its offline metrics.
5. **gate** - the campaign is updated only when the new version is not worse than the serving one
   on `gate_metric` (within `max_regression`); otherwise it keeps serving, and the run says why.
6. **deploy_campaign / publish_campaign** - create or update the campaign (waiting on the update's
   own status), then its ARN to SSM `/<project>/<env>/personalize/campaign-arn`, read by the recommendation API.
7. **record** - metrics and the decision to MLflow (experiment `personalize-training`) and to
   CloudWatch (`MLOps/Personalize`, per recipe).
8. **event_tracker / publish_tracking_id** - the dataset group's event tracker for real-time
   `PutEvents`; its tracking id to SSM `/<project>/<env>/personalize/tracking-id` for the application.
"""


@dag(
    dag_id="personalize_training",
    schedule=[PROCESSED_MONTH],
    start_date=pendulum.datetime(2011, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["personalize", "training", "mlflow"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
    },
    params={
        "month": month_param(
            "The newest month to train on; empty: the Asset event's month, else the month before the run.",
            title="Newest month (YYYY-MM)",
        ),
        "recipe": Param(
            "aws-user-personalization",
            enum=[
                "aws-user-personalization",
                "aws-user-personalization-v2",
                "aws-popularity-count",
                "aws-similar-items",
            ],
            title="Recipe",
        ),
        "training_mode": Param("FULL", enum=["FULL", "UPDATE"], title="Training mode"),
        "training_window_months": Param(3, type="integer", minimum=1, maximum=24, title="Training window (months)"),
        "gate_metric": Param(
            "normalized_discounted_cumulative_gain_at_10",
            enum=[
                "normalized_discounted_cumulative_gain_at_10",
                "precision_at_10",
                "mean_reciprocal_rank_at_25",
                "coverage",
            ],
            title="Gate metric",
        ),
        "max_regression": Param(0.0, type="number", minimum=0, maximum=1, title="Tolerated relative regression"),
        "min_provisioned_tps": Param(1, type="integer", minimum=1, title="Campaign minimum provisioned TPS"),
        "check_interval_seconds": Param(
            30, type="integer", minimum=1, maximum=600, title="Seconds between status checks (deferred)"
        ),
    },
)
def personalize_training():
    waits = {
        "aws_conn_id": AWS_CONN_ID,
        "waiter_delay": "{{ params.check_interval_seconds }}",
        "waiter_max_attempts": 480,
        "execution_timeout": timedelta(hours=4),
    }

    @task(execution_timeout=timedelta(minutes=5))
    def plan(params=None, dag_run=None, run_id=None, triggering_asset_events=None) -> dict:
        from mlops.months import resolve_month
        from mlops.tasks import personalize_training as steps

        month = resolve_month(params, dag_run, triggering_asset_events, PROCESSED_MONTH)
        return steps.plan(params, month, run_id, aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=30))
    def validate_and_stage(plan: dict) -> dict:
        from mlops.tasks import personalize_training as steps

        return steps.validate_and_stage(plan, aws_conn_id=AWS_CONN_ID)

    @task.branch(execution_timeout=timedelta(minutes=5))
    def gate(plan: dict, version: dict, metrics: dict, params=None, ti=None) -> str:
        from mlops.tasks import personalize_training as steps

        decision = steps.gate(plan, version["solutionVersionArn"], metrics, params, aws_conn_id=AWS_CONN_ID)
        print(decision["reason"])
        ti.xcom_push(key="decision", value=decision)
        return "deploy_campaign" if decision["deploy"] else "record"

    @task(execution_timeout=timedelta(minutes=2))
    def publish_campaign(campaign: dict) -> str:
        from mlops.deployment import current
        from mlops.tasks import personalize_training as steps

        arn, parameter = campaign["campaignArn"], current().campaign_parameter
        steps.publish_parameter(parameter, arn, "The campaign the API serves", aws_conn_id=AWS_CONN_ID)
        return campaign["campaignArn"]

    @task(trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(minutes=10))
    def record(plan: dict, version: dict, metrics: dict, staged: dict, run_id=None, ti=None) -> dict:
        from mlops.tasks import personalize_training as steps

        decision = ti.xcom_pull(task_ids="gate", key="decision")
        return steps.record(
            plan,
            version,
            metrics,
            decision,
            staged,
            run_id,
            aws_conn_id=AWS_CONN_ID,
            mlflow_conn_id=MLFLOW_CONN_ID,
            experiment=PERSONALIZE_EXPERIMENT,
        )

    @task(execution_timeout=timedelta(minutes=2))
    def publish_tracking_id(tracker: dict) -> str:
        from mlops.deployment import current
        from mlops.tasks import personalize_training as steps

        steps.publish_parameter(
            current().tracking_parameter, tracker["trackingId"], "PutEvents tracking id", aws_conn_id=AWS_CONN_ID
        )
        return tracker["eventTrackerArn"]

    the_plan = plan()
    staged = validate_and_stage(the_plan)
    group = PersonalizeCreateDatasetGroupOperator(
        task_id="dataset_group", name=f"{{{{ {PLAN}['dataset_group'] }}}}", **waits
    )
    schema = PersonalizeCreateSchemaOperator(
        task_id="schema",
        name=f"{{{{ {PLAN}['schema'] }}}}",
        schema=f"{{{{ {PLAN}['schema_json'] }}}}",
        aws_conn_id=AWS_CONN_ID,
        execution_timeout=timedelta(minutes=10),
    )
    dataset = PersonalizeCreateDatasetOperator(
        task_id="dataset",
        name=f"{{{{ {PLAN}['dataset'] }}}}",
        dataset_group_arn="{{ ti.xcom_pull(task_ids='dataset_group')['datasetGroupArn'] }}",
        dataset_type="Interactions",
        schema_arn="{{ ti.xcom_pull(task_ids='schema')['schemaArn'] }}",
        **waits,
    )
    imported = PersonalizeDatasetImportOperator(
        task_id="import_interactions",
        job_name=f"{{{{ {PLAN}['import_job'] }}}}",
        dataset_arn="{{ ti.xcom_pull(task_ids='dataset')['datasetArn'] }}",
        data_location="{{ ti.xcom_pull(task_ids='validate_and_stage')['uri'] }}",
        role_arn=f"{{{{ {PLAN}['role_arn'] }}}}",
        import_mode="FULL",
        **waits,
    )
    solution = PersonalizeCreateSolutionOperator(
        task_id="solution",
        name=f"{{{{ {PLAN}['solution'] }}}}",
        dataset_group_arn="{{ ti.xcom_pull(task_ids='dataset_group')['datasetGroupArn'] }}",
        recipe_arn=f"{{{{ {PLAN}['recipe_arn'] }}}}",
        **waits,
    )
    trained = PersonalizeTrainSolutionVersionOperator(
        task_id="train",
        name=f"{{{{ {PLAN}['version_name'] }}}}",
        solution_arn="{{ ti.xcom_pull(task_ids='solution')['solutionArn'] }}",
        training_mode=f"{{{{ {PLAN}['training_mode'] }}}}",
        **{
            **waits,
            "waiter_delay": "{{ params.check_interval_seconds * 2 }}",
            "waiter_max_attempts": 720,
            "execution_timeout": timedelta(hours=13),
        },
    )
    metrics = PersonalizeSolutionMetricsOperator(
        task_id="metrics",
        solution_version_arn="{{ ti.xcom_pull(task_ids='train')['solutionVersionArn'] }}",
        aws_conn_id=AWS_CONN_ID,
        execution_timeout=timedelta(minutes=10),
    )
    decided = gate(the_plan, trained.output, metrics.output)
    campaign = PersonalizeDeployCampaignOperator(
        task_id="deploy_campaign",
        name=f"{{{{ {PLAN}['campaign'] }}}}",
        solution_version_arn="{{ ti.xcom_pull(task_ids='train')['solutionVersionArn'] }}",
        min_provisioned_tps="{{ params.min_provisioned_tps }}",
        **waits,
    )
    published = publish_campaign(campaign.output)
    recorded = record(the_plan, trained.output, metrics.output, staged)
    tracker = PersonalizeCreateEventTrackerOperator(
        task_id="event_tracker",
        name=f"{{{{ {PLAN}['event_tracker'] }}}}",
        dataset_group_arn="{{ ti.xcom_pull(task_ids='dataset_group')['datasetGroupArn'] }}",
        **waits,
    )

    the_plan >> [group, schema]
    staged >> imported
    group >> schema >> dataset >> imported >> solution >> trained >> metrics >> decided
    decided >> [campaign, recorded]
    campaign >> published >> recorded
    group >> tracker >> publish_tracking_id(tracker.output)


personalize_training()
