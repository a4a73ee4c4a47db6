"""The model_drop DAG's steps: hand-dropped versions found under models/<name>/<version>/, checked,
registered, announced.

A drop is `s3://<bucket>/models/<name>/<version>/model.tar.gz` without a `_registration.json`
beside it. It must be the project's artifact format (`model.json` + `model.npz` + `code/inference.py`);
it is loaded the way the endpoint will load it (JSON and `np.load(allow_pickle=False)`: nothing in
it executes here). A good drop becomes an MLflow version (alias `challenger`, or `champion` when
there is none yet) with a SageMaker model package; a bad one is marked rejected with the reason.
Either way the marker is written, so no drop is looked at twice.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.settings import CHAMPION, MARKER
from mlops.tasks.common import framework_image, publish_version

DROP = re.compile(
    r"^models/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,62})/(?P<label>[A-Za-z0-9][A-Za-z0-9_.-]{0,62})/model\.tar\.gz$"
)
MAX_ARTIFACT_BYTES = 2 * 1024**3
REQUIRED = ("model.json", "model.npz", "code/inference.py")


class BadDrop(ValueError):
    pass


def scan(bucket: str, *, aws_conn_id: str) -> list[dict[str, str]]:
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    keys = s3.list_keys(bucket_name=bucket, prefix="models/") or []
    present = set(keys)
    drops = []
    for key in sorted(keys):
        match = DROP.match(key)
        if match and key.rsplit("/", 1)[0] + "/" + MARKER not in present:
            drops.append({"key": key, "name": match["name"], "label": match["label"], "bucket": bucket})
    print(f"{len(drops)} new drop(s) under s3://{bucket}/models/: {[d['key'] for d in drops]}")
    return drops


def find_drops(*, aws_conn_id: str) -> list[dict[str, str]]:
    from mlops.hooks.stack_outputs import StackOutputsHook

    outputs = StackOutputsHook(aws_conn_id=aws_conn_id).get_outputs("platform", required=("BucketName",))
    return scan(outputs["BucketName"], aws_conn_id=aws_conn_id)


def check_artifact(body: bytes) -> dict[str, Any]:
    """The artifact's own description (kind, users, items) or BadDrop saying what is wrong."""
    from include.training.artifact import ScoringModel

    if len(body) > MAX_ARTIFACT_BYTES:
        raise BadDrop(f"model.tar.gz is {len(body):,} bytes, over the {MAX_ARTIFACT_BYTES:,} limit")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
                archive.extractall(tmp, filter="data")  # refuses absolute paths, links out, devices
        except (tarfile.TarError, OSError, EOFError) as err:
            raise BadDrop(f"model.tar.gz is not a readable gzipped tar: {err}") from err
        missing = [name for name in REQUIRED if not (Path(tmp) / name).is_file()]
        if missing:
            raise BadDrop(f"model.tar.gz lacks {missing} (the artifact format of include/training/artifact.py)")
        try:
            model = ScoringModel.load(tmp)
            model.recommend_for(model.users[0] if model.users else "anyone", 5)
        except Exception as err:
            raise BadDrop(f"the model does not load or score: {type(err).__name__}: {err}") from err
        return {"kind": model.kind, "users": len(model.users), "items": len(model.items)}


def register(
    drop: dict[str, str],
    *,
    aws_conn_id: str,
    mlflow_conn_id: str,
    package_group: str,
    serving_image: str,
    run_id: str,
) -> dict[str, Any]:
    """Register one drop; BadDrop (after writing a rejected marker) when it is not a usable model."""
    from include.training.gate import drop_alias

    bucket = drop["bucket"]
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    uri = f"s3://{bucket}/{drop['key']}"
    marker_key = drop["key"].rsplit("/", 1)[0] + "/" + MARKER

    def mark(content: dict) -> None:
        s3.load_string(
            json.dumps({**content, "checked_at": datetime.now(UTC).isoformat()}), marker_key, bucket, replace=True
        )

    try:
        info = check_artifact(s3.get_key(drop["key"], bucket).get()["Body"].read())
    except BadDrop as err:
        mark({"status": "rejected", "reason": str(err)})
        raise BadDrop(f"{uri} rejected (marked in {MARKER}, not looked at again): {err}") from err

    mlflow = MlflowHook(mlflow_conn_id)
    name = drop["name"]
    version, _ = mlflow.register(
        name,
        uri,
        identity={"serving_artifact": uri},
        tags={
            "model_artifact": uri,
            "serving_artifact": uri,
            "source": "hand-drop",
            "drop_label": drop["label"],
            "model_kind": info["kind"],
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dag_run_id": run_id,
        },
        description=f"hand-dropped {info['kind']} model ({info['users']} users x {info['items']} items) from {uri}",
    )
    alias = drop_alias(has_champion=mlflow.version_by_alias(name, CHAMPION) is not None)
    package_arn = publish_version(
        mlflow,
        version,
        alias,
        aws_conn_id=aws_conn_id,
        package_group=package_group,
        image=serving_image or framework_image(aws_conn_id),
        model_data_url=uri,
        run_id=run_id,
    )
    mark({"status": "registered", "mlflow_version": str(version.version), "source": uri})
    print(f"registered {uri} as {name} version {version.version} (alias {alias})")
    return {
        "model_name": name,
        "version": str(version.version),
        "alias": alias,
        "model_artifact": uri,
        "model_package_arn": package_arn,
        "source": "hand-drop",
    }
