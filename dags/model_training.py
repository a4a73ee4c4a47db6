"""Decide whether to retrain the recommender, train it on SageMaker, and register it in MLflow."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerProcessingOperator, SageMakerTrainingOperator
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import MODEL_CANDIDATE, PROCESSED_MONTH
from mlops.params import month_param
from mlops.settings import (
    AWS_CONN_ID,
    DEFAULT_MODEL,
    MLFLOW_CONN_ID,
    MODEL_NAME,
    TRAINING_EXPERIMENT,
    TRAINING_IMAGE,
    TRAINING_MODELS,
)

DOC = """
### Model training
Runs when a month has been preprocessed (the `online_retail_processed_month` Asset) or by hand.

1. **plan** - the newest processed month (Param, Asset event, or the month before the run's date),
   the training window before it, and the stacks' outputs.
2. **plan_assessment** - the MLflow `champion`; when there is one, its training window, the new
   month and its artifact as the inputs of a SageMaker Processing job (copied server-side).
   **has_champion** skips the job when there is no champion yet.
3. **assess** - `SageMakerProcessingOperator`, deferrable: `include/training/assess_job.py` computes
   the drift from the champion's training data (per-feature normalised Wasserstein / PSI /
   Jensen-Shannon) and the champion's ranking quality on the new month, and writes
   `assessment.json`, the drift table (`drift.csv`) and chart (`drift.png`) to S3.
4. **decide** - reads the JSON and applies the retraining policy (`include/training/decision.py`):
   drift, decay against the champion's own figure at training, age. The decision and its reasons
   are logged and returned; when nothing is trained, an MLflow assessment run keeps the figures,
   table and chart. **should_train** ends the run here, saying why, when nothing calls for a new model.
5. **stage_data** / **package_code** - the window's interactions and features as SageMaker channels,
   the training code as a script-mode source directory (content-addressed: reruns reuse both).
6. **train** - `SageMakerTrainingOperator`, deferrable, one job name per DAG run. The job also
   scores the new model, the champion (its model.tar.gz as the optional `champion` channel) and
   the popularity and personal-popularity baselines on the new month for the same customers,
   and writes each customer's NDCG@10 into `evaluation.json` in the model artifact.
7. **register** - reads that report (no data loaded here): a paired bootstrap over customers gives
   the interval of the challenger's NDCG@10 gain; an MLflow run (parameters, per-model metrics,
   intervals, the decision, a model-comparison chart, data URIs, DAG run id) with the model logged
   from code and registered; alias `challenger` if the interval's lower bound over the champion
   clears `min_improvement` and it beats both baselines, `champion` for the very first model; a
   SageMaker model package with its approval status. A rerun of the DAG run registers nothing twice.
8. **announce** - the `recommender_model_candidate` Asset, for the A/B promotion DAG.
"""


@dag(
    dag_id="model_training",
    schedule=[PROCESSED_MONTH],
    start_date=pendulum.datetime(2011, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["training", "sagemaker", "mlflow"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    params={
        "month": month_param(
            "The month models are evaluated on; empty: the Asset event's month, else the month before the run.",
            title="Newest month (YYYY-MM)",
        ),
        "model": Param(
            DEFAULT_MODEL,
            enum=list(TRAINING_MODELS),
            title="Model",
            description="Default: the benchmark's winner on NDCG@10, the repeat-aware ranker (see README).",
        ),
        "hyperparameters": Param({}, type="object", title="Hyperparameters", description='e.g. {"factors": 64}'),
        "training_window_months": Param(6, type="integer", minimum=1, maximum=24, title="Training window (months)"),
        "drift_method": Param("wasserstein", enum=["wasserstein", "psi"], title="Numeric drift measure"),
        "drift_threshold": Param(0.1, type="number", minimum=0, title="Per-feature drift threshold"),
        "drift_share": Param(0.5, type="number", minimum=0, maximum=1, title="Share of drifted features for drift"),
        "max_decay": Param(0.2, type="number", minimum=0, maximum=1, title="Maximum relative NDCG@10 decay"),
        "max_age_days": Param(90, type="integer", minimum=1, title="Maximum champion age (days)"),
        "min_improvement": Param(
            0.0, type="number", minimum=0, title="Minimum relative NDCG@10 gain over the champion"
        ),
        "force_retrain": Param(False, type="boolean", title="Train even if nothing calls for it"),
        "instance_type": Param("ml.m5.xlarge", type="string", title="Instance type (training and assessment jobs)"),
        "training_image": Param(
            TRAINING_IMAGE,
            type="string",
            title="Framework image (script mode)",
            description="Empty: SageMaker's scikit-learn image for the connection's region whose Python fits.",
        ),
    },
)
def model_training():
    @task(execution_timeout=timedelta(minutes=5))
    def plan(params=None, dag_run=None, run_id=None, triggering_asset_events=None) -> dict:
        from mlops.months import resolve_month
        from mlops.tasks import model_training

        month = resolve_month(params, dag_run, triggering_asset_events, PROCESSED_MONTH)
        return model_training.plan(month, params, run_id, aws_conn_id=AWS_CONN_ID)

    @task(multiple_outputs=True, execution_timeout=timedelta(minutes=10))
    def plan_assessment(plan: dict, params=None) -> dict:
        """The champion, and the Processing job that assesses it (None without a champion)."""
        from mlops.tasks import model_training

        return model_training.plan_assessment(
            plan, params, aws_conn_id=AWS_CONN_ID, mlflow_conn_id=MLFLOW_CONN_ID, model_name=MODEL_NAME
        )

    @task.branch(execution_timeout=timedelta(minutes=1))
    def has_champion(job: dict | None) -> str:
        return "assess" if job else "decide"

    @task(trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(minutes=5))
    def decide(plan: dict, champion: dict | None, outputs: str | None, params=None, run_id=None, ti=None) -> dict:
        """The retraining decision, with its figures, from the Processing job's report."""
        from mlops.tasks import model_training

        job = (ti.xcom_pull(task_ids="assess") or {}).get("Processing")
        assessment = model_training.decide(
            plan,
            {"champion": champion, "outputs": outputs},
            job,
            params,
            aws_conn_id=AWS_CONN_ID,
            now=pendulum.now("UTC"),
        )
        if not assessment["retrain"]:
            model_training.log_assessment(
                plan,
                assessment,
                run_id=run_id,
                aws_conn_id=AWS_CONN_ID,
                mlflow_conn_id=MLFLOW_CONN_ID,
                experiment=TRAINING_EXPERIMENT,
            )
        return assessment

    @task.short_circuit(execution_timeout=timedelta(minutes=1))
    def should_train(assessment: dict) -> bool:
        print(assessment["explanation"])
        return assessment["retrain"]

    @task(execution_timeout=timedelta(minutes=20))
    def stage_data(plan: dict) -> dict:
        from mlops.tasks import model_training

        return model_training.stage_channels(plan, aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=5))
    def package_code(plan: dict) -> str:
        from mlops.tasks import model_training

        return model_training.upload_source_dir(plan["bucket"], aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=2))
    def training_config(plan: dict, assessment: dict, channels: dict, source_uri: str, params=None) -> dict:
        """The job's request, once its image is known to be in ECR (fails naming repository:tag)."""
        from mlops.tasks import model_training
        from mlops.tasks.common import require_image

        require_image(plan["training_image"], AWS_CONN_ID)
        champion = (assessment.get("champion") or {}).get("model_artifact")
        return model_training.training_job_config(plan, channels, source_uri, params, champion)

    run_plan = plan()
    planned = plan_assessment(run_plan)
    assess = SageMakerProcessingOperator(
        task_id="assess",
        aws_conn_id=AWS_CONN_ID,
        config=planned["job"],
        deferrable=True,
        check_interval=10,
        max_attempts=360,  # 1 h at 10 s, the job's MaxRuntimeInSeconds
        max_ingestion_time=3600,
        action_if_job_exists="timestamp",
        execution_timeout=timedelta(hours=2),
    )
    assessment = decide(run_plan, planned["champion"], planned["outputs"])
    has_champion(planned["job"]) >> [assess, assessment]
    assess >> assessment
    gate = should_train(assessment)
    channels = stage_data(run_plan)
    source = package_code(run_plan)
    config = training_config(run_plan, assessment, channels, source)

    train = SageMakerTrainingOperator(
        task_id="train",
        aws_conn_id=AWS_CONN_ID,
        config=config,
        deferrable=True,
        check_interval=15,
        max_attempts=960,  # 4 h at 15 s
        max_ingestion_time=4 * 3600,
        print_log=True,
        check_if_job_exists=True,
        action_if_job_exists="timestamp",
        execution_timeout=timedelta(hours=5),
    )

    @task(execution_timeout=timedelta(minutes=30))
    def register(plan: dict, assessment: dict, channels: dict, params=None, run_id=None, ti=None) -> dict:
        from mlops.deployment import current
        from mlops.tasks import model_training

        job = ti.xcom_pull(task_ids="train")["Training"]
        return model_training.register(
            plan,
            assessment,
            channels,
            job,
            params,
            run_id=run_id,
            aws_conn_id=AWS_CONN_ID,
            mlflow_conn_id=MLFLOW_CONN_ID,
            experiment=TRAINING_EXPERIMENT,
            model_name=MODEL_NAME,
            package_group=current().package_group,
        )

    @task(outlets=[MODEL_CANDIDATE], execution_timeout=timedelta(minutes=2))
    def announce(registered: dict, outlet_events=None) -> dict:
        from airflow.providers.common.compat.sdk import AirflowSkipException

        if registered["alias"] is None:
            raise AirflowSkipException(f"version {registered['version']} is no candidate: {registered['gate']}")
        outlet_events[MODEL_CANDIDATE].extra = registered
        return registered

    registered = register(run_plan, assessment, channels)
    gate >> [channels, source]
    config >> train >> registered
    announce(registered)


model_training()
