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
from mlops.tasks.common import framework_image, load_model, publish_version, read_parquet


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
    return {
        "month": month,
        "test_files": test_files,
        "window": window,
        "train_months": [w["month"] for w in window],
        "bucket": platform["BucketName"],
        "processed_bucket": prep["OutputBucket"],
        "role_arn": platform["ExecutionRoleArn"],
        "job_name": f"{current().training_job_prefix}-{params['model']}-{month.replace('-', '')}-{job_suffix}",
        "training_image": params.get("training_image") or framework_image(aws_conn_id),
    }


# --- assess ------------------------------------------------------------------------------------
def assess(
    plan: dict, params: dict, *, aws_conn_id: str, mlflow_conn_id: str, model_name: str, now: datetime
) -> dict[str, Any]:
    """The retraining decision, with its figures, from the champion and the new month."""
    import pandas as pd

    from include.training import drift, evaluation
    from include.training.decision import decide
    from include.training.gate import GATE_METRIC

    champion = MlflowHook(mlflow_conn_id).version_by_alias(model_name, CHAMPION)
    if champion is None:
        decision = decide(has_champion=False)
        print(decision.explain())
        return {
            "retrain": True,
            "reasons": decision.reasons,
            "explanation": decision.explain(),
            "figures": {},
            "champion": None,
            "drift": None,
        }
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    processed = ProcessedMonthsHook(plan["processed_bucket"], aws_conn_id=aws_conn_id)
    tags = champion.tags
    current = read_parquet(s3, plan["test_files"]["interactions.parquet"])
    reference = pd.concat(
        [read_parquet(s3, processed.files(m)["interactions.parquet"]) for m in tags["train_months"].split(",")],
        ignore_index=True,
    )
    threshold = params["drift_threshold"]
    report = drift.compare(
        reference,
        current,
        numeric_method=params["drift_method"],
        thresholds={"wasserstein": threshold, "psi": threshold, "jensenshannon": threshold},
        drift_share=params["drift_share"],
    )
    print(report.summary())
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(s3, tags["model_artifact"], tmp)
        now_metrics = evaluation.score(model, evaluation.truth_of(current, users=model.users))
    trained_at = datetime.fromisoformat(tags["trained_at"])
    decision = decide(
        has_champion=True,
        drift=report.as_dict(),
        champion_metric_at_training=float(tags[GATE_METRIC]),
        champion_metric_now=now_metrics[GATE_METRIC],
        metric=GATE_METRIC,
        max_decay=params["max_decay"],
        age_days=(now - trained_at).total_seconds() / 86_400,
        max_age_days=params["max_age_days"],
        force=params["force_retrain"],
    )
    print(decision.explain())
    return {
        "retrain": decision.retrain,
        "reasons": decision.reasons,
        "explanation": decision.explain(),
        "figures": decision.figures,
        "champion": {"version": champion.version, "run_id": champion.run_id, "metrics_now": now_metrics, **tags},
        "drift": report.as_dict(),
    }


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


def training_job_config(plan: dict, channels: dict, source_uri: str, params: dict) -> dict[str, Any]:
    from include.training.package import ENTRY
    from include.training.train import METRIC_DEFINITIONS

    hyperparameters = {"model": params["model"], **(params.get("hyperparameters") or {})}
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
                        "S3Uri": channels[name],
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/x-parquet",
            }
            for name in ("train", "test", "features")
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
    """Score challenger, champion and baseline on the new month; log, register, alias, package."""
    from include.training import evaluation
    from include.training.gate import GATE_METRIC, registration_gate

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    hook = MlflowHook(mlflow_conn_id)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    current = read_parquet(s3, plan["test_files"]["interactions.parquet"])
    champion = assessment.get("champion")
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(s3, artifact, f"{tmp}/challenger")
        truth = evaluation.truth_of(current, users=model.users)
        scored = {
            "challenger": evaluation.score(model, truth),
            "baseline": evaluation.score(evaluation.popularity_of(model), truth),
        }
        if champion:
            scored["champion"] = evaluation.score(load_model(s3, champion["model_artifact"], f"{tmp}/champion"), truth)
        gate, alias = registration_gate(scored, bool(champion), params["min_improvement"])
        print(f"gate: {gate}")

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
            metrics={**job_metrics, **{f"{who}_{k}": v for who, m in scored.items() for k, v in m.items()}},
            tags={
                "data.train": channels["train"],
                "data.test": channels["test"],
                "data.features": channels["features"],
                "model_artifact": artifact,
                "decision": assessment["explanation"],
                "gate": gate,
            },
        )
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
        "mlflow_run_id": mlflow_run_id,
        "model_package_arn": package_arn,
        "new_version": new_version,
    }


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
