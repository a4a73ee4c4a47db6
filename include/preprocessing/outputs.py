"""Output files, written as batches arrive, then published to S3 so that readers never see a mix.

Locally every data set is streamed to its own file (Parquet for the models' inputs and the
quarantine, CSV for Personalize). Publication: upload all files under a fresh
`processed/month=YYYY-MM/run=<id>/` prefix, then write `processed/month=YYYY-MM/_manifest.json`
(one PUT: atomic) naming them, then delete older runs of the month. Readers go through the
manifest, so they see the previous complete run or the new one; a failed run deletes what it
uploaded and leaves the manifest untouched; a rerun replaces, never duplicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from include.preprocessing import schema

INTERACTIONS = "interactions.parquet"
PERSONALIZE = "personalize_interactions.csv"
QUARANTINE = "quarantine.parquet"
USERS = "user_features.parquet"
ITEMS = "item_features.parquet"
REPORT = "quality_report.json"
MANIFEST = "_manifest.json"
PERSONALIZE_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")


class LocalOutputs:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._interactions: pq.ParquetWriter | None = None
        self._personalize_stream = pa.output_stream(self.path(PERSONALIZE))
        self._personalize_stream.write((",".join(PERSONALIZE_COLUMNS) + "\n").encode())  # unquoted, as AWS documents
        self._personalize = pa_csv.CSVWriter(
            self._personalize_stream,
            pa.schema([(c, t) for c, t in zip(PERSONALIZE_COLUMNS, _personalize_types(), strict=True)]),
            write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"),
        )
        # Parquet, not gzipped CSV: 3x faster to write at scale, typed, and every raw value is kept as
        # the text it was (all columns are strings); `pandas.read_parquet` or Athena read it.
        self._quarantine = pq.ParquetWriter(self.path(QUARANTINE), schema.QUARANTINE_SCHEMA, compression="zstd")

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def write_clean(self, clean: pa.Table) -> None:
        if self._interactions is None:
            self._interactions = pq.ParquetWriter(self.path(INTERACTIONS), clean.schema, compression="zstd")
        self._interactions.write_table(clean)
        self._personalize.write_table(
            pa.table(
                [
                    clean.column("user_id"),
                    clean.column("item_id"),
                    clean.column("timestamp"),
                    clean.column("event_type"),
                    pc.cast(clean.column("event_value"), pa.float64()),
                ],
                names=list(PERSONALIZE_COLUMNS),
            )
        )

    def write_quarantine(self, rows: pa.Table) -> None:
        if rows.num_rows:
            self._quarantine.write_table(rows)

    def close(self, users: pa.Table, items: pa.Table, report: dict) -> list[str]:
        if self._interactions is None:
            self._interactions = pq.ParquetWriter(
                self.path(INTERACTIONS), schema.INTERACTIONS_SCHEMA, compression="zstd"
            )
        self._interactions.close()
        self._personalize.close()
        self._personalize_stream.close()
        self._quarantine.close()
        pq.write_table(users, self.path(USERS), compression="zstd")
        pq.write_table(items, self.path(ITEMS), compression="zstd")
        with open(self.path(REPORT), "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        return [INTERACTIONS, PERSONALIZE, QUARANTINE, USERS, ITEMS, REPORT]

    def abort(self) -> None:
        writers = (
            self._interactions,
            self._personalize,
            self._personalize_stream,
            self._quarantine,
        )
        for writer in writers:
            try:
                if writer is not None:
                    writer.close()
            except Exception:  # noqa: S110 - closing after a failure; the files are discarded
                pass


def _personalize_types() -> list[pa.DataType]:
    return [pa.string(), pa.string(), pa.int64(), pa.string(), pa.float64()]


@dataclass
class Published:
    manifest_uri: str
    run_prefix: str
    files: dict[str, str]
    replaced_runs: list[str]


def publish(
    s3, directory: str, names: list[str], bucket: str, month_prefix: str, run_id: str, manifest: dict
) -> Published:
    """Upload, point the manifest at the new run, delete older runs. See the module docstring."""
    month_prefix = month_prefix.rstrip("/") + "/"
    run_prefix = f"{month_prefix}run={run_id}/"
    uploaded: list[str] = []
    try:
        for name in names:
            s3.upload_file(os.path.join(directory, name), bucket, run_prefix + name)
            uploaded.append(run_prefix + name)
        files = {name: f"s3://{bucket}/{run_prefix}{name}" for name in names}
        manifest = {**manifest, "run_id": run_id, "run_prefix": f"s3://{bucket}/{run_prefix}", "files": files}
        s3.put_object(
            Bucket=bucket,
            Key=month_prefix + MANIFEST,
            Body=json.dumps(manifest, indent=2).encode("utf-8"),
            ContentType="application/json",
        )
    except BaseException:
        for key in uploaded:
            s3.delete_object(Bucket=bucket, Key=key)
        raise
    replaced = delete_other_runs(s3, bucket, month_prefix, keep=run_prefix)
    return Published(f"s3://{bucket}/{month_prefix}{MANIFEST}", f"s3://{bucket}/{run_prefix}", files, replaced)


def delete_other_runs(s3, bucket: str, month_prefix: str, keep: str) -> list[str]:
    runs: set[str] = set()
    stale: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=month_prefix + "run="):
        for obj in page.get("Contents", []):
            if not obj["Key"].startswith(keep):
                stale.append(obj["Key"])
                runs.add(obj["Key"][len(month_prefix) :].split("/", 1)[0])
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start : start + 1000]], "Quiet": True}
        )
    return sorted(runs)
