"""Serve a new recommender beside the champion, test it on live traffic, promote or roll it back."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import MODEL_CANDIDATE
from mlops.operators.sagemaker_endpoint import SageMakerDeployEndpointOperator, SageMakerEndpointWeightsOperator
from mlops.sensors.ab_test import AbTestSensor
from mlops.settings import AWS_CONN_ID, CHALLENGER, CHAMPION, MLFLOW_CONN_ID, SERVING_IMAGE

DOC = """
### A/B promotion
Runs when a model version is announced on the `recommender_model_candidate` Asset (by
`model_training`, or by `model_drop` for a version dropped at `s3://<bucket>/models/<name>/<version>/`),
or by hand for a given version.

1. **plan** - the candidate and the MLflow `champion`; the serving stack's endpoint, guardrail
   alarms, ledger table and conversion namespace. No champion yet (or the candidate *is* the
   champion): deploy it alone. Otherwise: an A/B test.
2. **stage_artifacts** - each served version's `model.tar.gz` under `models/<name>/<version>/`,
   the only prefix the serving role may read.
3. **deploy** - SageMaker models and an endpoint config named after the endpoint, model name,
   versions and split; the endpoint is created or updated (blue/green), waiting in the triggerer.
   Each variant is then registered with Application Auto Scaling (`instance_count` to
   `max_instance_count` instances, target tracking on `SageMakerVariantInvocationsPerInstance`);
   a variant a config drops is deregistered before the update. A rerun reuses all.
4. **start_test** - the test's record in the A/B ledger (DynamoDB); a rerun resumes it.
5. **watch** - a look every `check_interval_minutes`, in reschedule mode (no worker slot held):
   impressions and conversions per variant (the application's CloudWatch metrics) go into an
   exact always-valid test on the challenger's share of conversions; promote when the challenger
   is significantly better, roll back when it is significantly worse or a guardrail alarm
   (latency, 5xx) is or was in ALARM since the last look, inconclusive at the maximum duration or
   on a sample-ratio mismatch. Each look is stored in the ledger.
6. **promote**: all traffic to the challenger (UpdateEndpointWeightsAndCapacities), then the
   endpoint on the challenger alone as variant `champion`. **Roll back / inconclusive**: all
   traffic to the champion, then the champion alone.
7. **conclude** - MLflow alias `champion` moved (promotion), `challenger` removed, the version
   tagged with the outcome and its figures; the SageMaker model package approved or rejected; the
   ledger record closed.
8. **restore_champion** (teardown of `deploy`) - runs whatever failed in between: unless the run
   promoted, the champion gets all traffic back and serves alone; a test left `running` is
   marked `aborted`. The run's state is that of its work tasks.
9. **clean_up** - once the endpoint is InService: the endpoint configs and models named after it
   that it no longer references (superseded versions and splits) are deleted.
"""


@dag(
    dag_id="ab_promotion",
    schedule=[MODEL_CANDIDATE],
    start_date=pendulum.datetime(2011, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["serving", "sagemaker", "ab-test", "mlflow"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
    },
    params={
        "model_name": Param("", type="string", title="Registered model", description="Empty: the Asset event's."),
        "version": Param(
            "", type="string", title="Version", description="Empty: the Asset event's, else the 'challenger' alias."
        ),
        "traffic_share": Param(0.1, type="number", minimum=0.01, maximum=0.5, title="Challenger traffic share"),
        "alpha": Param(0.05, type="number", exclusiveMinimum=0, maximum=0.2, title="Significance level (alpha)"),
        "min_detectable_lift": Param(
            0.1,
            type="number",
            exclusiveMinimum=0,
            maximum=10,
            title="Minimum detectable lift (relative)",
            description="Relative lift of the conversion rate (0.1 = +10%) the test is tuned to find soonest: "
            "the spread of the mixture prior of the exact sequential test.",
        ),
        "min_sessions": Param(200, type="integer", minimum=1, title="Sessions per variant before a look counts"),
        "min_duration_hours": Param(24.0, type="number", minimum=0, title="Minimum duration (hours)"),
        "max_duration_hours": Param(
            336.0, type="number", exclusiveMinimum=0, maximum=720, title="Maximum duration (hours, up to 30 days)"
        ),
        "check_interval_minutes": Param(15.0, type="number", exclusiveMinimum=0, title="Minutes between looks"),
        "guardrail_alarms": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Guardrail alarms",
            description="CloudWatch alarms whose ALARM state rolls the test back; empty: the serving stack's "
            "challenger latency and 5xx-rate alarms.",
        ),
        "instance_type": Param("ml.m5.large", type="string", title="Endpoint instance type"),
        "instance_count": Param(1, type="integer", minimum=1, title="Instances per variant (auto scaling's floor)"),
        "max_instance_count": Param(4, type="integer", minimum=1, title="Auto scaling: most instances per variant"),
        "invocations_per_instance": Param(
            100.0,
            type="number",
            exclusiveMinimum=0,
            title="Auto scaling: target invocations per instance and minute",
            description="Target tracking on SageMakerVariantInvocationsPerInstance: instances are added above it.",
        ),
        "serving_image": Param(
            SERVING_IMAGE,
            type="string",
            title="Serving image (script mode)",
            description="Empty: SageMaker's scikit-learn image for the connection's region whose Python fits.",
        ),
    },
)
def ab_promotion():
    @task(multiple_outputs=True, execution_timeout=timedelta(minutes=5))
    def plan(params=None, triggering_asset_events=None) -> dict:
        from mlops.tasks import ab_promotion as steps

        candidate = steps.candidate_of(triggering_asset_events, MODEL_CANDIDATE)
        return steps.plan(params, candidate, aws_conn_id=AWS_CONN_ID, mlflow_conn_id=MLFLOW_CONN_ID)

    @task(execution_timeout=timedelta(minutes=20))
    def stage_artifacts(plan: dict) -> list[str]:
        from mlops.tasks import ab_promotion as steps

        return steps.stage_artifacts(plan, aws_conn_id=AWS_CONN_ID)

    @task.branch(execution_timeout=timedelta(minutes=1))
    def test_or_done(mode: str) -> str:
        return "start_test" if mode == "ab" else "conclude"

    @task(execution_timeout=timedelta(minutes=5))
    def start_test(plan: dict, run_id=None) -> dict:
        from mlops.tasks import ab_promotion as steps

        return steps.start_test(plan, run_id, aws_conn_id=AWS_CONN_ID)

    @task.branch(execution_timeout=timedelta(minutes=1))
    def act(figures: dict) -> str:
        print(f"decision: {figures['outcome']} - {figures['reason']}")
        return "promote_traffic" if figures["outcome"] == "promote" else "restore_traffic"

    @task(trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(minutes=10))
    def conclude(plan: dict, ti=None) -> dict:
        from mlops.tasks import ab_promotion as steps

        figures = ti.xcom_pull(task_ids="watch") if plan["mode"] == "ab" else None
        return steps.conclude(plan, figures, aws_conn_id=AWS_CONN_ID, mlflow_conn_id=MLFLOW_CONN_ID)

    @task(execution_timeout=timedelta(hours=2), retries=3)
    def restore_champion(plan: dict, ti=None) -> dict:
        from mlops.tasks import ab_promotion as steps

        promoted = ti.xcom_pull(task_ids="promote_endpoint") is not None
        return steps.restore_champion(plan, promoted, aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=10))
    def clean_up(plan: dict) -> dict:
        """Configs and models the live endpoint no longer references (one per version and split)."""
        from mlops.tasks import ab_promotion as steps

        return steps.clean_up_superseded(plan, aws_conn_id=AWS_CONN_ID)

    the_plan = plan()
    staged = stage_artifacts(the_plan)
    endpoint_args = {"aws_conn_id": AWS_CONN_ID, "check_interval": 15, "execution_timeout": timedelta(hours=2)}
    scaled = {"autoscaling": the_plan["autoscaling"]}  # each variant deployed is registered, each removed released
    deploy = SageMakerDeployEndpointOperator(
        task_id="deploy",
        endpoint_name=the_plan["endpoint"],
        endpoint_config_name=the_plan["deploy_config"],
        models=the_plan["deploy_models"],
        variants=the_plan["deploy_variants"],
        **scaled,
        **endpoint_args,
    )
    started = start_test(the_plan)
    watch = AbTestSensor(
        task_id="watch",
        endpoint_name=the_plan["endpoint"],
        test_id=the_plan["test_id"],
        table_name=the_plan["table"],
        conversion_namespace=the_plan["namespace"],
        challenger_alarms=the_plan["alarms"],
        settings=the_plan["settings"],
        check_interval_s=the_plan["check_interval_s"],
        aws_conn_id=AWS_CONN_ID,
        mode="reschedule",
        retries=3,
    )
    decided = act(watch.output)
    promote_traffic = SageMakerEndpointWeightsOperator(
        task_id="promote_traffic",
        endpoint_name=the_plan["endpoint"],
        weights={CHAMPION: 0.0, CHALLENGER: 1.0},
        **endpoint_args,
    )
    promote_endpoint = SageMakerDeployEndpointOperator(
        task_id="promote_endpoint",
        endpoint_name=the_plan["endpoint"],
        endpoint_config_name=the_plan["promote_config"],
        models=the_plan["promote_models"],
        variants=the_plan["promote_variants"],
        **scaled,
        **endpoint_args,
    )
    restore_traffic = SageMakerEndpointWeightsOperator(
        task_id="restore_traffic",
        endpoint_name=the_plan["endpoint"],
        weights={CHAMPION: 1.0, CHALLENGER: 0.0},
        **endpoint_args,
    )
    retire_challenger = SageMakerDeployEndpointOperator(
        task_id="retire_challenger",
        endpoint_name=the_plan["endpoint"],
        endpoint_config_name=the_plan["rollback_config"],
        models=the_plan["rollback_models"],
        variants=the_plan["rollback_variants"],
        **scaled,
        **endpoint_args,
    )
    done = conclude(the_plan)

    staged >> deploy >> test_or_done(the_plan["mode"]) >> [started, done]
    started >> watch >> decided >> [promote_traffic, restore_traffic]
    promote_traffic >> promote_endpoint >> done
    restore_traffic >> retire_challenger >> done
    # whatever fails after the A/B config is deployed, the champion gets its traffic back
    done >> restore_champion(the_plan).as_teardown(setups=deploy)
    done >> clean_up(the_plan)


ab_promotion()
