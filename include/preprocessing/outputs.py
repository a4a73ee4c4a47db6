"""Output files, written as batches arrive, then published to S3 in two steps so that readers never
see a mix, nor a month that failed its quality gate.

Locally every data set is streamed to its own file (Parquet for the models' inputs and the
quarantine, CSV for Personalize).

1. `publish_candidate` (the job): upload all files under a prefix fresh for this attempt,
   `processed/month=YYYY-MM/run=<run id>.<attempt>/`, then write the candidate manifest
   `processed/month=YYYY-MM/_candidate.json` naming them. Readers (training, Personalize,
   `ProcessedMonthsHook`) read only `_manifest.json`, so they ignore it. A failed attempt deletes
   what it uploaded - its own prefix, never another - and a retry writes a prefix of its own.
2. `promote` (the DAG, after the quality gate passed): write the candidate's content as
   `processed/month=YYYY-MM/_manifest.json` - one PutObject, the atomic step: readers see the
   previous run or this one - then delete the month's other runs, never the one the live
   manifest names, then the candidate manifest. A month whose gate failed is never promoted: the
   previous run stays live, and its candidate stays for inspection until the next promotion.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

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


CANDIDATE = "_candidate.json"


@dataclass
class Published:
    manifest_uri: str
    run_prefix: str
    files: dict[str, str]
    replaced_runs: list[str]


def _put_json(s3, bucket: str, key: str, body: dict) -> None:
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(body, indent=2).encode("utf-8"), ContentType="application/json"
    )


def publish_candidate(
    s3, directory: str, names: list[str], bucket: str, month_prefix: str, run_id: str, manifest: dict
) -> Published:
    """Upload under a prefix of this attempt's own, then write the candidate manifest naming it."""
    month_prefix = month_prefix.rstrip("/") + "/"
    attempt = f"{run_id}.{uuid.uuid4().hex[:8]}"
    run_prefix = f"{month_prefix}run={attempt}/"
    uploaded: list[str] = []
    try:
        for name in names:
            s3.upload_file(os.path.join(directory, name), bucket, run_prefix + name)
            uploaded.append(run_prefix + name)
        files = {name: f"s3://{bucket}/{run_prefix}{name}" for name in names}
        manifest = {
            **manifest,
            "run_id": run_id,
            "attempt": attempt,
            "run_prefix": f"s3://{bucket}/{run_prefix}",
            "files": files,
        }
        _put_json(s3, bucket, month_prefix + CANDIDATE, manifest)
    except BaseException:
        for key in uploaded:  # this attempt's own keys only
            with contextlib.suppress(Exception):
                s3.delete_object(Bucket=bucket, Key=key)
        raise
    return Published(f"s3://{bucket}/{month_prefix}{CANDIDATE}", f"s3://{bucket}/{run_prefix}", files, [])


class NotPromotable(Exception):
    """No candidate of the expected run, or one whose files are missing."""


def read_json(s3, bucket: str, key: str) -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def promote(s3, bucket: str, month_prefix: str, run_id: str | None = None) -> tuple[dict, list[str]]:
    """Make the month's candidate live (see the module docstring); returns (live manifest, runs
    deleted). Idempotent: when the candidate of `run_id` is already live, finishes the clean-up."""
    month_prefix = month_prefix.rstrip("/") + "/"
    where = f"s3://{bucket}/{month_prefix}"
    candidate = read_json(s3, bucket, month_prefix + CANDIDATE)
    if candidate is None or (run_id is not None and candidate.get("run_id") != run_id):
        live = read_json(s3, bucket, month_prefix + MANIFEST)
        if live is not None and run_id is not None and live.get("run_id") == run_id:  # a retried promotion
            keep = [_key_of(live["run_prefix"], bucket)]
            if candidate is not None:  # another run's candidate, still waiting for its gate
                keep.append(_key_of(candidate["run_prefix"], bucket))
            return live, delete_other_runs(s3, bucket, month_prefix, *keep)
        found = "none" if candidate is None else f"one of run {candidate.get('run_id')!r}"
        raise NotPromotable(f"no candidate of run {run_id!r} to promote at {where}{CANDIDATE} ({found})")
    for name, uri in candidate["files"].items():
        try:
            s3.head_object(Bucket=bucket, Key=_key_of(uri, bucket))
        except s3.exceptions.ClientError as err:
            raise NotPromotable(f"candidate {where}{CANDIDATE} names {name} at {uri}, which is missing") from err
    live = {**candidate, "promoted_at": datetime.now(UTC).isoformat()}
    _put_json(s3, bucket, month_prefix + MANIFEST, live)  # the atomic step
    replaced = delete_other_runs(s3, bucket, month_prefix, _key_of(live["run_prefix"], bucket))
    s3.delete_object(Bucket=bucket, Key=month_prefix + CANDIDATE)
    return live, replaced


def _key_of(uri: str, bucket: str) -> str:
    return uri[len(f"s3://{bucket}/") :]


def delete_other_runs(s3, bucket: str, month_prefix: str, *keep: str) -> list[str]:
    """Delete every run of the month but those under `keep` (first, the prefix the live manifest names)."""
    runs: set[str] = set()
    stale: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=month_prefix + "run="):
        for obj in page.get("Contents", []):
            if not obj["Key"].startswith(tuple(keep)):
                stale.append(obj["Key"])
                runs.add(obj["Key"][len(month_prefix) :].split("/", 1)[0])
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start : start + 1000]], "Quiet": True}
        )
    return sorted(runs)
