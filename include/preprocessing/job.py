"""The job's two entry points.

`run`: one month. Configuration from SSM; the month's raw file located through the landing
manifest in the input bucket; the fitted model from the artifact bucket; outputs published to the
output bucket as a candidate (`outputs.publish_candidate`), which the DAG promotes after its
quality gate (`outputs.promote`). `fit`: the preprocessing model from a window of landed
months, written to the artifact bucket under its content hash and as the configured model key.

`process_file` is the local core both use (and the benchmark measures): file in, files out,
memory bounded by the block size.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from include.preprocessing import config as job_config
from include.preprocessing import custom as custom_code
from include.preprocessing import limits, outputs, pipeline, reader, schema, transform
from include.preprocessing import model as prep_model
from include.preprocessing.features import FeatureAccumulator


class InputMissing(Exception):
    pass


def month_bounds(month: str) -> tuple[int, int]:
    year, mon = (int(p) for p in month.split("-"))
    start = int(datetime(year, mon, 1, tzinfo=UTC).timestamp())
    return start, start + calendar.monthrange(year, mon)[1] * 86_400


@dataclass
class Counts:
    rows_in: int = 0
    rows_out: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)

    def add_quarantine(self, reasons: dict[str, int]) -> None:
        for reason, count in reasons.items():
            self.quarantined[reason] = self.quarantined.get(reason, 0) + count

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())


def _custom_quarantine(clean: pa.Table, lines: np.ndarray, drop: pa.Array) -> pa.Table:
    rows = clean.filter(drop)
    text = {name: pc.cast(rows.column(name), pa.string()) for name in rows.column_names}
    n = rows.num_rows
    return pa.table(
        {
            "line": pa.array(lines[np.asarray(drop.to_numpy(zero_copy_only=False), dtype=bool)], pa.int64()),
            "reason": pa.array([schema.CUSTOM_RULE] * n, pa.string()),
            "InvoiceNo": text["invoice_no"],
            "StockCode": text["item_id"],
            "Description": pa.nulls(n, pa.string()),
            "Quantity": text["quantity"],
            "InvoiceDate": pc.cast(pc.cast(rows.column("timestamp"), pa.timestamp("s")), pa.string()),
            "UnitPrice": text["unit_price"],
            "CustomerID": text["user_id"],
            "Country": text["country"],
            "raw_line": pa.nulls(n, pa.string()),
        },
        schema=schema.QUARANTINE_SCHEMA,
    )


def process_file(
    path: str,
    source: str,
    model: prep_model.PreprocessingModel,
    out_dir: str,
    month: str | None = None,
    custom: custom_code.CustomCode | None = None,
    block_size: int = reader.BLOCK_SIZE,
    max_bad_share: float = limits.DEFAULT_MAX_BAD_SHARE,
) -> tuple[list[str], dict]:
    """Turn one raw file into the output files in `out_dir`; returns (file names, quality report).
    Refuses the file (`MalformedInput`) when a column's bad values pass `max_bad_share` of its lines."""
    started = time.monotonic()
    bounds = month_bounds(month) if month else (None, None)
    rules = transform.Rules(model.product_code_pattern, model.quantity_cap, model.price_cap, *bounds)
    counts = Counts()
    acc = FeatureAccumulator()
    bad: dict[str, transform.BadValues] = {}
    duplicates = transform.Duplicates()
    local = outputs.LocalOutputs(out_dir)
    writer = pipeline.BackgroundWriter()
    try:
        for block in pipeline.prefetch(reader.blocks(path, source, block_size)):
            counts.rows_in += block.rows.num_rows + len(block.invalid_lines)
            if block.invalid_lines:
                writer.submit(
                    local.write_quarantine, reader.invalid_rows_table(block.invalid_lines, block.invalid_texts)
                )
                counts.add_quarantine({schema.WRONG_FIELD_COUNT: len(block.invalid_lines)})
                fields = transform.BadValues(len(block.invalid_lines), block.invalid_lines[: limits.EXAMPLES])
                bad.setdefault(FIELD_COUNT, transform.BadValues()).add(fields)
            if block.rows.num_rows == 0:
                continue
            result = transform.apply(block.rows, block.lines, rules)
            for column, found in result.bad_values.items():
                bad.setdefault(column, transform.BadValues()).add(found)
            duplicates.add(block.rows, result.duplicates)
            clean, descriptions = result.clean, result.descriptions
            counts.add_quarantine(result.reason_counts)
            writer.submit(local.write_quarantine, result.quarantine)
            if custom is not None:
                keep = custom.keep(clean)
                if keep is not None:
                    drop = pc.invert(keep)
                    dropped = _custom_quarantine(clean, result.lines, drop)
                    writer.submit(local.write_quarantine, dropped)
                    counts.add_quarantine({schema.CUSTOM_RULE: dropped.num_rows} if dropped.num_rows else {})
                    clean, descriptions = clean.filter(keep), pc.filter(descriptions, keep)
                clean = custom.transform(clean)
            counts.rows_out += clean.num_rows
            writer.submit(local.write_clean, clean)
            acc.add(clean, descriptions)
        writer.finish()
        refuse_bad_columns(source, bad, counts.rows_in, max_bad_share)
        reference = bounds[1] if month else (acc.last_ts or 0)
        users = model.encode_users(acc.user_features(reference))
        items = model.encode_items(acc.item_features())
        seconds = time.monotonic() - started
        report = {
            "month": month,
            "source": source,
            "model_id": model.model_id,
            "rows_in": counts.rows_in,
            "rows_out": counts.rows_out,
            "rows_quarantined": counts.rows_quarantined,
            "quarantined_by_reason": dict(sorted(counts.quarantined.items())),
            "quarantine_share": round(counts.rows_quarantined / counts.rows_in, 6) if counts.rows_in else 0.0,
            # per raw column: values that break its pattern (a row can count in several columns)
            "bad_values": {column: found.count for column, found in sorted(bad.items())},
            "max_bad_share": max_bad_share,
            "duplicate_lines": duplicates.count,  # counted and kept: see transform.Duplicates
            "users": users.num_rows,
            "items": items.num_rows,
            "first_event": _iso(acc.first_ts),
            "last_event": _iso(acc.last_ts),
            "seconds": round(seconds, 3),
            "rows_per_second": round(counts.rows_in / seconds) if seconds else None,
        }
        if counts.rows_in != counts.rows_out + counts.rows_quarantined:
            raise AssertionError(f"row accounting broken: {report}")
        names = local.close(users, items, report)
    except BaseException:
        with contextlib.suppress(BaseException):  # the first error is the one to report
            writer.finish()
        local.abort()
        raise
    return names, report


FIELD_COUNT = "(field count)"  # the `bad` entry of lines without the header's 8 fields
_WHAT = {
    FIELD_COUNT: f"lines without the header's {len(schema.RAW_COLUMNS)} fields",
    "InvoiceDate": f"column InvoiceDate: values that are not dates {schema.DATE_FORMAT!r}",
    "Quantity": "column Quantity: values that are not whole numbers of at most 18 digits",
    "UnitPrice": "column UnitPrice: values that are not finite decimal numbers",
    "CustomerID": "column CustomerID: values that are not integer ids",
}


def refuse_bad_columns(source: str, bad: dict[str, transform.BadValues], rows: int, max_share: float) -> None:
    """A column whose bad values pass the share is a format change: refuse the file, naming the
    column and its first lines; below the share its rows are quarantined and the month goes on."""
    for column, found in bad.items():
        if limits.too_many(found.count, rows, max_share):
            values = found.values if column != FIELD_COUNT else None
            raise schema.MalformedInput(
                f"{source}: {limits.refusal(_WHAT[column], found.count, rows, max_share, found.lines, values)}"
            )


def _iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


# --- S3 side ---------------------------------------------------------------------------------------
def load_model(s3, cfg: job_config.JobConfig) -> prep_model.PreprocessingModel:
    where = f"s3://{cfg.artifact_bucket}/{cfg.model_key}"
    try:
        body = s3.get_object(Bucket=cfg.artifact_bucket, Key=cfg.model_key)["Body"].read()
    except s3.exceptions.NoSuchKey as err:
        raise InputMissing(f"no preprocessing model at {where}: run the fit step first (`fit`)") from err
    return prep_model.PreprocessingModel.from_json(body, where)


def locate_month(s3, cfg: job_config.JobConfig, month: str) -> tuple[str, dict]:
    """The raw month's data key, from the manifest raw_data_landing writes last."""
    manifest_key = cfg.raw_month_prefix(month) + "_manifest.json"
    try:
        manifest = json.loads(s3.get_object(Bucket=cfg.input_bucket, Key=manifest_key)["Body"].read())
    except s3.exceptions.NoSuchKey as err:
        raise InputMissing(
            f"month {month} has not landed: s3://{cfg.input_bucket}/{manifest_key} does not exist"
        ) from err
    data_uri = manifest.get("data_uri", "")
    expected = f"s3://{cfg.input_bucket}/{cfg.raw_month_prefix(month)}"
    if not data_uri.startswith(expected):
        raise InputMissing(f"s3://{cfg.input_bucket}/{manifest_key} points outside the month's prefix: {data_uri!r}")
    return data_uri[len(f"s3://{cfg.input_bucket}/") :], manifest


def run(s3, ssm, prefix: str, month: str, run_id: str | None = None) -> dict:
    cfg = job_config.load(ssm, prefix)
    print(f"config from {cfg.prefix}: input s3://{cfg.input_bucket}/{cfg.input_key}, output s3://{cfg.output_bucket}")
    model = load_model(s3, cfg)
    print(f"model {model.model_id} fitted on {model.window} (s3://{cfg.artifact_bucket}/{cfg.model_key})")
    key, landing = locate_month(s3, cfg, month)
    run_id = run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="preprocess-") as work:
        custom = custom_code.load(s3, cfg.artifact_bucket, cfg.script_key, cfg.package_key, work)
        local_input = os.path.join(work, "input" + (".csv.gz" if key.endswith(".gz") else ".csv"))
        s3.download_file(cfg.input_bucket, key, local_input)
        source = f"s3://{cfg.input_bucket}/{key}"
        print(f"processing {source} ({os.path.getsize(local_input):,} bytes)")
        names, report = process_file(
            local_input, source, model, os.path.join(work, "out"), month, custom, max_bad_share=cfg.max_bad_share
        )
        report["landing_sha256"] = landing.get("sha256")
        report["custom_script"] = cfg.script_key
        report["custom_package"] = cfg.package_key
        published = outputs.publish_candidate(
            s3,
            os.path.join(work, "out"),
            names,
            cfg.output_bucket,
            f"processed/month={month}/",
            run_id,
            {"month": month, "model_id": model.model_id, "report": report, "task_arn": os.environ.get("ECS_TASK_ARN")},
        )
    print(
        f"rows in {report['rows_in']:,}, out {report['rows_out']:,}, quarantined {report['rows_quarantined']:,} "
        f"{report['quarantined_by_reason']}; users {report['users']:,}, items {report['items']:,}; "
        f"bad values {report['bad_values']}, duplicate lines {report['duplicate_lines']:,}"
    )
    print(
        f"candidate {published.manifest_uri} -> {published.run_prefix}: readers see it once the quality gate "
        "passes and the DAG promotes it"
    )
    return {"candidate_uri": published.manifest_uri, "files": published.files, "report": report}


def landed_months(s3, cfg: job_config.JobConfig) -> list[str]:
    prefix = cfg.input_key.rstrip("/") + "/month="
    months = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.input_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/_manifest.json"):
                months.add(obj["Key"][len(prefix) :].split("/", 1)[0])
    return sorted(months)


def fit_files(
    files: list[tuple[str, str]], window: list[str], max_bad_share: float = limits.DEFAULT_MAX_BAD_SHARE
) -> prep_model.PreprocessingModel:
    """Fit on local files [(path, source name)], read with the same rules (and refusals) as a run,
    caps off."""
    permissive = transform.Rules(prep_model.DEFAULT_PRODUCT_CODE_PATTERN, float("inf"), float("inf"))
    quantities, prices = prep_model.Histogram(), prep_model.Histogram()
    acc = FeatureAccumulator()
    for path, source in files:
        bad: dict[str, transform.BadValues] = {}
        rows = 0
        for block in reader.blocks(path, source):
            rows += block.rows.num_rows + len(block.invalid_lines)
            if block.invalid_lines:
                found = transform.BadValues(len(block.invalid_lines), block.invalid_lines[: limits.EXAMPLES])
                bad.setdefault(FIELD_COUNT, transform.BadValues()).add(found)
            if block.rows.num_rows == 0:
                continue
            result = transform.apply(block.rows, block.lines, permissive)
            for column, found in result.bad_values.items():
                bad.setdefault(column, transform.BadValues()).add(found)
            quantities.add(result.clean.column("quantity").to_numpy().astype(np.float64))
            prices.add(result.clean.column("unit_price").to_numpy())
            acc.add(result.clean, result.descriptions)
        refuse_bad_columns(source, bad, rows, max_bad_share)  # a format change must not shape the model
    users = acc.user_features(acc.last_ts or 0)
    return prep_model.fit(quantities, prices, users, acc.item_features(), window, acc.rows)


def fit(s3, ssm, prefix: str, until_month: str, window_months: int) -> dict:
    """Fit on up to `window_months` landed months ending at `until_month` (inclusive)."""
    cfg = job_config.load(ssm, prefix)
    window = [m for m in landed_months(s3, cfg) if m <= until_month][-window_months:]
    if not window:
        raise InputMissing(f"no landed month at or before {until_month} under s3://{cfg.input_bucket}/{cfg.input_key}")
    print(f"fitting the preprocessing model on {window}")
    with tempfile.TemporaryDirectory(prefix="preprocess-fit-") as work:
        files = []
        for month in window:
            key, _ = locate_month(s3, cfg, month)
            local = os.path.join(work, f"{month}" + (".csv.gz" if key.endswith(".gz") else ".csv"))
            s3.download_file(cfg.input_bucket, key, local)
            files.append((local, f"s3://{cfg.input_bucket}/{key}"))
        fitted = fit_files(files, window, cfg.max_bad_share)
    body = fitted.to_json().encode("utf-8")
    versioned = f"{os.path.dirname(cfg.model_key) or 'preprocessing/model'}/{fitted.model_id}.json"
    s3.put_object(Bucket=cfg.artifact_bucket, Key=versioned, Body=body, ContentType="application/json")
    s3.put_object(Bucket=cfg.artifact_bucket, Key=cfg.model_key, Body=body, ContentType="application/json")
    print(
        f"model {fitted.model_id}: quantity cap {fitted.quantity_cap}, price cap {fitted.price_cap}, "
        f"{len(fitted.countries)} countries; written to s3://{cfg.artifact_bucket}/{cfg.model_key} and {versioned}"
    )
    return {"model_id": fitted.model_id, "model_uri": f"s3://{cfg.artifact_bucket}/{cfg.model_key}", "window": window}
