"""The model_training DAG's steps: plan, assess the champion, stage data and code, configure the
job, register the result. The policy (retrain? which alias?) is in include/training."""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.hooks.processed_months import ProcessedMonthsHook
from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.months import months_back
from mlops.settings import CHAMPION
from mlops.tasks.common import framework_image, load_model, publish_version, read_object


# --- plan --------------------------------------------------------------------------------------
def plan(month: str, params: dict, run_id: str, *, aws_conn_id: str) -> dict[str, Any]:
    """The newest month (the test month), the processed months before it (the window), the stacks."""
    from mlops.deployment import current

    outputs = StackOutputsHook(aws_conn_id=aws_conn_id)
    prep = outputs.get_outputs("preprocessing", required=("OutputBucket",))
    platform = outputs.get_outputs("platform", required=("BucketName", "ExecutionRoleArn"))
    processed = ProcessedMonthsHook(prep["OutputBucket"], aws_conn_id=aws_conn_id)
    test_files = processed.files(month)
    window = processed.window(months_back(month, params["training_window_months"]))
    if not window:
        raise ValueError(f"no processed month before {month}: nothing to train on")
    job_suffix = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    model = params["model"].replace("_", "-")  # job names allow [a-zA-Z0-9-]
    return {
        "month": month,
        "test_files": test_files,
        "window": window,
        "train_months": [w["month"] for w in window],
        "bucket": platform["BucketName"],
        "processed_bucket": prep["OutputBucket"],
        "role_arn": platform["ExecutionRoleArn"],
        "job_name": f"{current().training_job_prefix}-{model}-{month.replace('-', '')}-{job_suffix}",
        "training_image": params.get("training_image") or framework_image(aws_conn_id),
    }


# --- assess ------------------------------------------------------------------------------------
# The champion's drift and decay are computed where the data is, in a SageMaker Processing job
# (include/training/assess_job.py); the worker plans it and reads its JSON (issue 17).
ASSESSMENT_FILES = ("assessment.json", "drift.csv", "drift.png")
CONTAINER_INPUT = "/opt/ml/processing/input"
CONTAINER_OUTPUT = "/opt/ml/processing/output"


def plan_assessment(
    plan: dict, params: dict, *, aws_conn_id: str, mlflow_conn_id: str, model_name: str
) -> dict[str, Any]:
    """The MLflow champion and, when there is one, the Processing job that assesses it: its inputs
    copied into the platform bucket (content-addressed, server-side: nothing passes through here),
    the code, and the job's config. `job` is None without a champion: there is nothing to assess."""
    from mlops.deployment import current

    champion = MlflowHook(mlflow_conn_id).version_by_alias(model_name, CHAMPION)
    if champion is None:
        return {"champion": None, "job": None, "outputs": None}
    tags = dict(champion.tags)
    processed = ProcessedMonthsHook(plan["processed_bucket"], aws_conn_id=aws_conn_id)
    sources = {
        f"reference/month={m}/interactions.parquet": processed.files(m)["interactions.parquet"]
        for m in tags["train_months"].split(",")
    }
    sources["current/interactions.parquet"] = plan["test_files"]["interactions.parquet"]
    data = _copy_content_addressed(sources, plan["bucket"], "assessment/datasets", aws_conn_id)
    code = upload_source_dir(plan["bucket"], aws_conn_id=aws_conn_id)
    entry = _upload_runproc(plan["bucket"], aws_conn_id)
    run_digest = plan["job_name"].rsplit("-", 1)[-1]  # the training job's: one per DAG run
    name = f"{current().training_job_prefix}-assess-{plan['month'].replace('-', '')}-{run_digest}"
    outputs = f"s3://{plan['bucket']}/assessment/jobs/{name}"
    inputs = {
        "entrypoint": entry.rsplit("/", 1)[0] + "/",
        "code": code.rsplit("/", 1)[0] + "/",
        "reference": f"{data}/reference/",
        "current": f"{data}/current/",
        "model": tags["model_artifact"],
    }
    arguments = [f"{CONTAINER_INPUT}/code/sourcedir.tar.gz", "include.training.assess_job"]
    for flag in ("reference", "current", "model"):
        arguments += [f"--{flag}", f"{CONTAINER_INPUT}/{flag}"]
    arguments += ["--output", CONTAINER_OUTPUT, "--exit-message", "/opt/ml/output/message"]
    arguments += ["--drift-method", params["drift_method"], "--drift-threshold", str(params["drift_threshold"])]
    arguments += ["--drift-share", str(params["drift_share"])]
    config = {
        "ProcessingJobName": name,
        "RoleArn": plan["role_arn"],
        "AppSpecification": {
            "ImageUri": plan["training_image"],
            "ContainerEntrypoint": ["python3", f"{CONTAINER_INPUT}/entrypoint/runproc.py"],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": [
            {
                "InputName": input_name,
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": f"{CONTAINER_INPUT}/{input_name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
            for input_name, uri in inputs.items()
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "assessment",
                    "S3Output": {"S3Uri": outputs, "LocalPath": CONTAINER_OUTPUT, "S3UploadMode": "EndOfJob"},
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": params["instance_type"], "VolumeSizeInGB": 30}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "mlops:month", "Value": plan["month"]}],
    }
    print(f"assessing champion version {champion.version} with Processing job {name} (inputs under {data}/)")
    return {
        "champion": {"version": champion.version, "run_id": champion.run_id, **tags},
        "job": config,
        "outputs": outputs,
    }


def decide(
    plan: dict, planned: dict, job: dict | None, params: dict, *, aws_conn_id: str, now: datetime
) -> dict[str, Any]:
    """The retraining decision (include/training/decision.py) from the Processing job's JSON."""
    from include.training.decision import decide as decide_policy
    from include.training.gate import GATE_METRIC

    champion = planned["champion"]
    if champion is None:
        decision = decide_policy(has_champion=False)
        print(decision.explain())
        return {
            "retrain": True,
            "reasons": decision.reasons,
            "explanation": decision.explain(),
            "figures": {},
            "champion": None,
            "drift": None,
            "artifacts": {},
        }
    if job is None or job.get("ProcessingJobStatus") != "Completed":
        raise RuntimeError(f"the assessment job did not complete: {job and job.get('ProcessingJobStatus')}")
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    artifacts = {name: f"{planned['outputs']}/{name}" for name in ASSESSMENT_FILES}
    report = json.loads(read_object(s3, artifacts["assessment.json"]))
    print(report["drift_summary"])
    now_metrics = report["champion_metrics_now"]
    decision = decide_policy(
        has_champion=True,
        drift=report["drift"],
        champion_metric_at_training=float(champion[GATE_METRIC]),
        champion_metric_now=now_metrics[GATE_METRIC],
        metric=GATE_METRIC,
        max_decay=params["max_decay"],
        age_days=(now - datetime.fromisoformat(champion["trained_at"])).total_seconds() / 86_400,
        max_age_days=params["max_age_days"],
        force=params["force_retrain"],
    )
    print(decision.explain())
    return {
        "retrain": decision.retrain,
        "reasons": decision.reasons,
        "explanation": decision.explain(),
        "figures": decision.figures,
        "champion": {**champion, "metrics_now": now_metrics},
        "drift": report["drift"],
        "assessment_job": job["ProcessingJobName"],
        "artifacts": artifacts,
    }


def log_assessment(
    plan: dict, assessment: dict, *, run_id: str, aws_conn_id: str, mlflow_conn_id: str, experiment: str
) -> str | None:
    """When nothing is trained, the assessment still gets an MLflow run: its decision, figures,
    drift table and chart. Keyed on the DAG run (`assessment_of`), so a rerun logs into the same run."""
    if not assessment.get("artifacts"):
        return None
    hook = MlflowHook(mlflow_conn_id)
    run, _ = hook.start_or_resume_run(
        hook.experiment_id(experiment),
        run_name=assessment["assessment_job"],
        tags={"kind": "assessment", "month": plan["month"], "champion_version": assessment["champion"]["version"]},
        key={"assessment_of": run_id},
    )
    figures = {k: v for k, v in assessment["figures"].items() if isinstance(v, int | float) and not isinstance(v, bool)}
    metrics = {f"champion_now_{k}": v for k, v in assessment["champion"]["metrics_now"].items()}
    hook.log_to_run(
        run.info.run_id,
        metrics={**figures, **metrics},
        tags={"decision": assessment["explanation"], "processing_job": assessment["assessment_job"]},
    )
    log_assessment_artifacts(hook, run.info.run_id, assessment, aws_conn_id=aws_conn_id)
    print(f"assessment logged to MLflow run {run.info.run_id}")
    return run.info.run_id


def log_assessment_artifacts(hook: MlflowHook, mlflow_run_id: str, assessment: dict, *, aws_conn_id: str) -> None:
    """The Processing job's report, drift table and chart as artifacts of `mlflow_run_id` (under
    `assessment/`); nothing when there was no champion to assess."""
    artifacts = assessment.get("artifacts") or {}
    if not artifacts:
        return
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    with tempfile.TemporaryDirectory() as tmp:
        for name, uri in artifacts.items():
            Path(tmp, name).write_bytes(read_object(s3, uri))
        hook.log_artifacts(mlflow_run_id, tmp, "assessment")


def _copy_content_addressed(sources: dict[str, str], bucket: str, root: str, aws_conn_id: str) -> str:
    """Server-side copies of `sources` under `<root>/<digest of the mapping>/`; returns that prefix's URI."""
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    dataset_id = hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:16]
    prefix = f"{root}/{dataset_id}"
    for relative, source in sorted(sources.items()):
        target = f"{prefix}/{relative}"
        if not s3.check_for_key(target, bucket):
            src_bucket, src_key = S3Hook.parse_s3_url(source)
            s3.copy_object(src_key, target, src_bucket, bucket)
    return f"s3://{bucket}/{prefix}"


def _upload_runproc(bucket: str, aws_conn_id: str) -> str:
    """The Processing container's bootstrap (include/training/runproc.py), content-addressed."""
    from include.training import runproc

    body = Path(runproc.__file__).read_bytes()
    key = f"training/entrypoint/{hashlib.sha256(body).hexdigest()[:16]}/runproc.py"
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    if not s3.check_for_key(key, bucket):
        s3.load_bytes(body, key, bucket)
    return f"s3://{bucket}/{key}"


# --- data and code -----------------------------------------------------------------------------
def description_embeddings(s3: S3Hook, item_features_uri: str, month: str) -> str | None:
    """The catalogue_embeddings DAG's item embeddings for `month`, beside the processed data; None
    when that DAG has not run for the month (training goes on without description features)."""
    from mlops.settings import EMBEDDING_DIMENSIONS, EMBEDDING_MODEL_ID
    from mlops.tasks.catalogue_embeddings import locations

    bucket, _ = S3Hook.parse_s3_url(item_features_uri)
    uri = locations(bucket, EMBEDDING_MODEL_ID, EMBEDDING_DIMENSIONS, month)["output_uri"]
    return uri if s3.check_for_key(S3Hook.parse_s3_url(uri)[1], bucket) else None


def stage_channels(plan: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """Copy the window into one content-addressed dataset prefix: SageMaker channels are prefixes."""
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    sources = {
        f"train/month={w['month']}/interactions.parquet": w["files"]["interactions.parquet"] for w in plan["window"]
    }
    sources["test/interactions.parquet"] = plan["test_files"]["interactions.parquet"]
    latest = plan["window"][-1]["files"]
    for name in ("user_features.parquet", "item_features.parquet"):
        sources[f"features/{name}"] = latest[name]
    embedded = description_embeddings(s3, latest["item_features.parquet"], plan["window"][-1]["month"])
    if embedded is not None:  # the FM reads them as item features (include/training/description_features.py)
        sources["features/item_embeddings.parquet"] = embedded
    dataset_id = hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:16]
    prefix = f"training/datasets/{dataset_id}"
    for relative, source in sorted(sources.items()):
        target = f"{prefix}/{relative}"
        if not s3.check_for_key(target, plan["bucket"]):
            src_bucket, src_key = S3Hook.parse_s3_url(source)
            s3.copy_object(src_key, target, src_bucket, plan["bucket"])
    base = f"s3://{plan['bucket']}/{prefix}"
    print(f"dataset {dataset_id}: {len(sources)} objects under {base}/")
    return {
        "dataset_id": dataset_id,
        "train": f"{base}/train/",
        "test": f"{base}/test/",
        "features": f"{base}/features/",
        "sources": sources,
    }


def upload_source_dir(bucket: str, *, aws_conn_id: str) -> str:
    from include.training.package import build_sourcedir

    body, digest = build_sourcedir()
    key = f"training/code/{digest[:16]}/sourcedir.tar.gz"
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    if not s3.check_for_key(key, bucket):
        s3.load_bytes(body, key, bucket)
    return f"s3://{bucket}/{key}"


def training_job_config(
    plan: dict, channels: dict, source_uri: str, params: dict, champion_artifact: str | None = None
) -> dict[str, Any]:
    """The job: the window, the test month and, when there is one, the champion's model.tar.gz as
    the optional `champion` channel, so the job scores challenger, champion and baselines itself."""
    from include.training.package import ENTRY
    from include.training.train import METRIC_DEFINITIONS

    hyperparameters = {"model": params["model"], **(params.get("hyperparameters") or {})}
    inputs = {name: (channels[name], "application/x-parquet") for name in ("train", "test", "features")}
    if champion_artifact:
        inputs["champion"] = (champion_artifact, "application/x-tar")
    return {
        "TrainingJobName": plan["job_name"],
        "AlgorithmSpecification": {
            "TrainingImage": plan["training_image"],
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": plan["role_arn"],
        "HyperParameters": {
            "sagemaker_program": json.dumps(ENTRY),
            "sagemaker_submit_directory": json.dumps(source_uri),
            **{k: json.dumps(v) for k, v in hyperparameters.items()},
        },
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": content_type,
            }
            for name, (uri, content_type) in inputs.items()
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{plan['bucket']}/training/jobs"},
        "ResourceConfig": {"InstanceType": params["instance_type"], "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 4 * 3600},
        "Tags": [
            {"Key": "mlops:month", "Value": plan["month"]},
            {"Key": "mlops:dataset", "Value": channels["dataset_id"]},
        ],
    }


# --- register ----------------------------------------------------------------------------------
def register(
    plan: dict,
    assessment: dict,
    channels: dict,
    job: dict,
    params: dict,
    *,
    run_id: str,
    aws_conn_id: str,
    mlflow_conn_id: str,
    experiment: str,
    model_name: str,
    package_group: str,
) -> dict[str, Any]:
    """Gate on the job's own scoring (evaluation.json); log, chart, register, alias, package."""
    from include.training.gate import GATE_METRIC, registration_gate
    from include.training.report import comparison_chart

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    hook = MlflowHook(mlflow_conn_id)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    champion = assessment.get("champion")
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(s3, artifact, f"{tmp}/challenger")
        report = read_evaluation(f"{tmp}/challenger", has_champion=bool(champion))
        scored = report["metrics"]
        result = registration_gate(report["per_user_ndcg_at_10"], bool(champion), params["min_improvement"])
        gate, alias = result.reason, result.alias
        print(f"gate: {gate}")
        chart = comparison_chart(result, Path(tmp) / "model_comparison.png", title=f"{plan['month']}: {gate}")
        (Path(tmp) / "gate.json").write_text(json.dumps(result.as_dict(), indent=2))

        run, created = hook.start_or_resume_run(
            hook.experiment_id(experiment),
            run_name=job["TrainingJobName"],
            tags={"model": model.kind, "month": plan["month"], "training_job": job["TrainingJobName"]},
            key={"dag_run_id": run_id},
        )
        mlflow_run_id = run.info.run_id
        job_metrics = {f"job_{m['MetricName']}": m["Value"] for m in job.get("FinalMetricDataList", [])}
        hook.log_to_run(
            mlflow_run_id,
            params={
                **model.hyperparameters,
                "train_months": ",".join(plan["train_months"]),
                "test_month": plan["month"],
                "training_job": job["TrainingJobName"],
                "training_image": plan["training_image"],
            },
            metrics={
                **job_metrics,
                **{f"{who}_{k}": v for who, m in scored.items() for k, v in m.items()},
                **{
                    f"{key}_gain_{bound}": getattr(ci, bound)
                    for key, ci in result.intervals.items()
                    for bound in ("gain", "lower", "upper")
                },
            },
            tags={
                "data.train": channels["train"],
                "data.test": channels["test"],
                "data.features": channels["features"],
                "model_artifact": artifact,
                "decision": assessment["explanation"],
                "gate": gate,
                "gate.alias": alias or "none",
            },
        )
        log_assessment_artifacts(hook, mlflow_run_id, assessment, aws_conn_id=aws_conn_id)
        with hook.fluent_credentials():
            hook.client.log_artifact(mlflow_run_id, str(chart), "evaluation")
            hook.client.log_artifact(mlflow_run_id, str(Path(tmp) / "gate.json"), "evaluation")
        if created or not run.data.tags.get("model_uri"):
            model_uri = _log_model(hook, mlflow_run_id, model, f"{tmp}/challenger")
            hook.log_to_run(mlflow_run_id, tags={"model_uri": model_uri})
        else:
            model_uri = run.data.tags["model_uri"]

    version, new_version = hook.register(
        model_name,
        model_uri,
        run_id=mlflow_run_id,
        tags={
            "train_months": ",".join(plan["train_months"]),
            "model_artifact": artifact,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            GATE_METRIC: str(scored["challenger"][GATE_METRIC]),
            "training_job": job["TrainingJobName"],
            "month": plan["month"],
            "dag_run_id": run_id,
        },
        description=f"{model.kind} trained on {', '.join(plan['train_months'])}; {gate}",
    )
    hook.tag_version(model_name, version.version, {"gate": gate})
    package_arn = publish_version(
        hook,
        version,
        alias,
        aws_conn_id=aws_conn_id,
        package_group=package_group,
        image=plan["training_image"],
        model_data_url=artifact,
        run_id=run_id,
    )
    print(
        f"{model_name} version {version.version} ({'new' if new_version else 'existing'}), alias {alias}, {package_arn}"
    )
    return {
        "model_name": model_name,
        "version": str(version.version),
        "alias": alias,
        "gate": gate,
        "model_artifact": artifact,
        "month": plan["month"],
        "metrics": scored,
        "intervals": {key: vars(ci) for key, ci in result.intervals.items()},
        "mlflow_run_id": mlflow_run_id,
        "model_package_arn": package_arn,
        "new_version": new_version,
    }


def read_evaluation(model_dir: str, *, has_champion: bool) -> dict:
    """The training job's evaluation report, checked: every model the gate needs, equally long."""
    from include.training.train import EVALUATION

    path = Path(model_dir) / EVALUATION
    if not path.is_file():
        raise ValueError(f"{EVALUATION} is missing from the model artifact: the job ran without a test channel")
    report = json.loads(path.read_text())
    needed = ["challenger", "popularity", "personal_popularity", *(["champion"] if has_champion else [])]
    per_user = report.get("per_user_ndcg_at_10", {})
    missing = [name for name in needed if name not in per_user]
    if missing:
        raise ValueError(f"{EVALUATION} lacks {', '.join(missing)} (a champion exists: {has_champion})")
    if len({len(per_user[name]) for name in needed}) != 1:
        raise ValueError(f"{EVALUATION}: the models were not scored on the same customers")
    return report


def _log_model(hook: MlflowHook, mlflow_run_id: str, model, model_dir: str) -> str:
    """The scoring artifact as an MLflow pyfunc model (code-based: no pickle), logged to the run."""
    import mlflow as mlflow_api
    import pandas as pd
    from mlflow.models import infer_signature

    from include.training import evaluation

    code = Path(evaluation.__file__)
    example = pd.DataFrame({"user_id": [model.users[0]], "num_results": [10], "country": ["United Kingdom"]})
    hook.client  # noqa: B018 - points MLflow's fluent API at the connection's server
    with hook.fluent_credentials(), mlflow_api.start_run(run_id=mlflow_run_id):
        info = mlflow_api.pyfunc.log_model(
            name="model",
            python_model=str(code.with_name("mlflow_pyfunc.py")),
            artifacts={"model_dir": model_dir},
            code_paths=[str(code.with_name("artifact.py"))],
            signature=infer_signature(example, pd.DataFrame({"user_id": ["x"], "items": [["a"]], "source": ["model"]})),
            pip_requirements=["numpy", "pandas"],
        )
    return info.model_uri
