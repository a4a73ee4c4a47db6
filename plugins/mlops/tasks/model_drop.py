"""The model_drop DAG's steps: hand-dropped versions found under models/<name>/<version>/, checked,
repacked, registered as challenger, announced.

A drop is `s3://<bucket>/models/<name>/<version>/model.tar.gz` without a `_registration.json`
beside it. The rules (served names only, challenger only, bounded streaming read, repacked with the
project's serving code, content-addressed copy) are in include/training/drops.py. A drop that
breaks a rule is marked rejected with the reason; a good one is marked registered; either way it is
not looked at twice. An error that is not the drop's (full disk, S3 throttling, MLflow down)
leaves no marker: the task fails, retries, and the next scan finds the drop again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from include.training.drops import DROP, BadDrop, Limits
from mlops.hooks.mlflow_tracking import MlflowHook
from mlops.settings import CHAMPION, MARKER
from mlops.tasks.common import framework_image, publish_version

__all__ = ["DROP", "BadDrop", "find_drops", "register", "scan"]
DEFAULT_LIMITS = Limits()


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


def fetch_and_repack(s3: S3Hook, bucket: str, key: str, workdir: Path, limits: Limits) -> dict[str, Any]:
    """Stream the drop once (hashing it), unpack its data files within `limits`, check them, repack
    them with the project's serving code. Returns the drop's sha256, the model's description and
    the repacked file with its sha256. BadDrop for the drop's faults; anything else propagates."""
    from include.training import drops

    body = s3.get_key(key, bucket).get()["Body"]
    digest, read = hashlib.sha256(), [0]

    class Hashing:
        """The object's bytes as read, hashed and counted (the object may have grown since HEAD)."""

        def read(self, size: int = -1) -> bytes:
            chunk = body.read(size if size and size > 0 else None)
            read[0] += len(chunk)
            if read[0] > limits.compressed_bytes:
                raise BadDrop(f"model.tar.gz exceeds {limits.compressed_bytes:,} bytes: refused while reading")
            digest.update(chunk)
            return chunk

    source = Hashing()
    data = drops.unpack(source, workdir / "data", limits)
    info = drops.check_model(workdir / "data", limits)
    while source.read(drops.CHUNK):  # bytes after the tar's end still belong to the object's digest
        pass
    repacked = workdir / "model.tar.gz"
    sha256 = drops.repack(data["model.json"].parent, repacked)
    return {"drop_sha256": digest.hexdigest(), "info": info, "path": repacked, "sha256": sha256}


def register(
    drop: dict[str, str],
    *,
    aws_conn_id: str,
    mlflow_conn_id: str,
    package_group: str,
    serving_image: str,
    run_id: str,
    served: Collection[str],
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Register one drop as challenger; BadDrop (after writing a rejected marker) when it breaks a rule."""
    from include.training import drops

    bucket, name = drop["bucket"], drop["name"]
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    uri = f"s3://{bucket}/{drop['key']}"
    marker_key = drop["key"].rsplit("/", 1)[0] + "/" + MARKER
    mlflow = MlflowHook(mlflow_conn_id)

    def mark(content: dict) -> None:
        s3.load_string(
            json.dumps({**content, "checked_at": datetime.now(UTC).isoformat()}), marker_key, bucket, replace=True
        )

    with tempfile.TemporaryDirectory(prefix="model-drop-") as tmp:
        try:
            drops.accept_name(name, served)
            alias = drops.drop_alias(name, has_champion=mlflow.version_by_alias(name, CHAMPION) is not None)
            size = (s3.head_object(drop["key"], bucket) or {}).get("ContentLength", 0)
            if size > limits.compressed_bytes:
                raise BadDrop(f"model.tar.gz is {size:,} bytes, over the {limits.compressed_bytes:,} limit")
            packed = fetch_and_repack(s3, bucket, drop["key"], Path(tmp), limits)
        except BadDrop as err:
            mark({"status": "rejected", "reason": str(err)})
            raise BadDrop(f"{uri} rejected (marked in {MARKER}, not looked at again): {err}") from err
        served_key = drops.content_key(name, packed["sha256"])
        if not s3.check_for_key(served_key, bucket):  # content-addressed: present means identical
            s3.load_file(packed["path"], served_key, bucket, replace=False)
    served_uri = f"s3://{bucket}/{served_key}"
    info = packed["info"]
    version, _ = mlflow.register(
        name,
        served_uri,
        identity={"serving_artifact": served_uri},
        tags={
            "model_artifact": served_uri,
            "serving_artifact": served_uri,
            "source": "hand-drop",
            "drop_label": drop["label"],
            "drop_uri": uri,
            "drop_sha256": packed["drop_sha256"],
            "model_kind": info["kind"],
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dag_run_id": run_id,
        },
        description=(
            f"hand-dropped {info['kind']} model ({info['users']} users x {info['items']} items) from {uri} "
            f"(sha256 {packed['drop_sha256']}), repacked with the project's serving code as {served_uri}"
        ),
    )
    package_arn = publish_version(
        mlflow,
        version,
        alias,
        aws_conn_id=aws_conn_id,
        package_group=package_group,
        image=serving_image or framework_image(aws_conn_id),
        model_data_url=served_uri,
        run_id=run_id,
    )
    mark(
        {
            "status": "registered",
            "mlflow_version": str(version.version),
            "source": uri,
            "drop_sha256": packed["drop_sha256"],
            "artifact": served_uri,
        }
    )
    print(f"registered {uri} as {name} version {version.version} (alias {alias}), served from {served_uri}")
    return {
        "model_name": name,
        "version": str(version.version),
        "alias": alias,
        "model_artifact": served_uri,
        "model_package_arn": package_arn,
        "source": "hand-drop",
    }
