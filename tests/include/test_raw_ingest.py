"""The raw-ingest job on real months: what lands, and what it refuses with a clear message."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import uuid

import pytest

from devstack.datasets import month_file
from include.jobs import raw_ingest

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROW = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"


@pytest.fixture
def buckets(stack):
    s3 = stack.client("s3")
    name = f"ingest-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def drop(s3, bucket: str, name: str, body: bytes, sums: bytes | None = None) -> dict[str, str]:
    s3.put_object(Bucket=bucket, Key=f"drop/{name}", Body=body)
    digest = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket=bucket, Key="drop/SHA256SUMS", Body=sums or f"{digest}  {name}\n".encode())
    return {
        "SOURCE_URI": f"s3://{bucket}/drop/{name}",
        "CHECKSUMS_URI": f"s3://{bucket}/drop/SHA256SUMS",
        "TARGET_PREFIX": f"s3://{bucket}/raw/month=2011-01/",
        "MONTH": "2011-01",
    }


def keys(s3, bucket: str, prefix: str = "raw/") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def layout(s3, bucket: str) -> list[str]:
    """The raw zone's keys with each landing's own id replaced by `<id>`."""
    return [re.sub(r"landing=[^/]+/", "landing=<id>/", k) for k in keys(s3, bucket)]


def landed(s3, bucket: str) -> tuple[dict, bytes]:
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="raw/month=2011-01/_manifest.json")["Body"].read())
    key = manifest["data_uri"].split("/", 3)[3]
    return manifest, s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_lands_a_real_month_verified_against_the_partner_checksums(buckets):
    s3, bucket = buckets
    body = month_file("2011-01").read_bytes()
    sums = (month_file("2011-01").parent / "SHA256SUMS").read_bytes()
    env = drop(s3, bucket, "2011-01.csv.gz", body, sums)
    manifest = raw_ingest.run(env, s3)
    with gzip.open(month_file("2011-01"), "rt", encoding="utf-8") as f:
        expected_rows = sum(1 for _ in f) - 1
    assert manifest.rows == expected_rows > 30_000
    assert manifest.compressed and manifest.sha256 == hashlib.sha256(body).hexdigest()
    assert layout(s3, bucket) == ["raw/month=2011-01/_manifest.json", "raw/month=2011-01/landing=<id>/data.csv.gz"]
    stored, data = landed(s3, bucket)
    assert data == body
    assert stored["data_uri"] == f"s3://{bucket}/{keys(s3, bucket)[1]}"
    assert stored["rows"] == expected_rows


def test_rerun_replaces_under_new_keys_and_leaves_no_staging_objects(buckets):
    """A rerun never shows new data under the old manifest: it lands under keys of its own, swaps
    the manifest, then deletes the landing the old manifest named."""
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", (HEADER + ROW * 3).encode())
    raw_ingest.run(env, s3)
    first, first_data = landed(s3, bucket)
    env = drop(s3, bucket, "m.csv", (HEADER + ROW * 5).encode())
    assert raw_ingest.run(env, s3).rows == 5
    second, second_data = landed(s3, bucket)
    assert second["data_uri"] != first["data_uri"] and second_data.count(b"\n") == 6 and first_data.count(b"\n") == 4
    assert layout(s3, bucket) == ["raw/month=2011-01/_manifest.json", "raw/month=2011-01/landing=<id>/data.csv"]
    assert keys(s3, bucket, "raw/_staging/") == []


def test_a_failed_manifest_write_keeps_the_previous_landing_whole(buckets):
    s3, bucket = buckets
    raw_ingest.run(drop(s3, bucket, "m.csv", (HEADER + ROW * 3).encode()), s3)
    before, before_data = landed(s3, bucket)
    listed = keys(s3, bucket)

    class ManifestWriteFails:
        def __init__(self, s3) -> None:
            self._s3 = s3

        def put_object(self, **kwargs):
            if kwargs["Key"].endswith("_manifest.json"):
                raise ConnectionError("network gone while writing the manifest")
            return self._s3.put_object(**kwargs)

        def __getattr__(self, name):
            return getattr(self._s3, name)

    env = drop(s3, bucket, "m.csv", (HEADER + ROW * 5).encode())
    with pytest.raises(ConnectionError):
        raw_ingest.run(env, ManifestWriteFails(s3))
    assert keys(s3, bucket) == listed and landed(s3, bucket) == (before, before_data)


def test_counts_rows_with_a_wrong_field_count_and_refuses_a_share_over_the_limit(buckets):
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", (HEADER + ROW + "1,2,3\n" + ROW).encode())
    manifest = raw_ingest.run(env, s3)
    assert (manifest.rows, manifest.malformed_rows) == (3, 1)  # fewer than the 20 that can refuse a file

    body = HEADER + (ROW * 9 + "1,2,3\n") * 30  # 10% of the lines, over the 5% default
    env = drop(s3, bucket, "m.csv", body.encode())
    with pytest.raises(raw_ingest.IngestError, match=r"30 of 300 lines \(10.0%\).* first at line 11, line 21"):
        raw_ingest.run(env, s3)
    assert raw_ingest.run({**env, "MAX_BAD_SHARE": "0.2"}, s3).malformed_rows == 30  # the SSM parameter, raised


def test_lines_the_preprocessing_job_could_not_read_are_refused(buckets):
    from include.preprocessing import limits

    s3, bucket = buckets
    long_row = ROW.replace("WHITE HANGING", "W" * (limits.MAX_LINE_BYTES + 10), 1)
    env = drop(s3, bucket, "m.csv", (HEADER + ROW + long_row).encode())
    with pytest.raises(raw_ingest.IngestError, match=r"line 3: longer than 8,388,608 characters"):
        raw_ingest.run(env, s3)
    assert keys(s3, bucket) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEADER.replace("UnitPrice", "Price") + ROW, "line 1: header"),
        (b"", "the file is empty"),
        (HEADER, r"no data rows \(0 lines after the header"),
        (HEADER + "1,2,3\n", r"no data rows \(1 lines after the header, 1 malformed\)"),
        (gzip.compress((HEADER + ROW * 1000).encode())[:-200], "corrupt or truncated gzip"),
        ((HEADER + ROW).encode() + "Caf\xe9,\n".encode("latin-1"), "not UTF-8 text near byte"),
    ],
    ids=["renamed-column", "empty", "header-only", "only-malformed", "truncated-gzip", "latin-1"],
)
def test_malformed_files_fail_with_what_and_where_and_land_nothing(buckets, body, message):
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", body.encode() if isinstance(body, str) else body)
    with pytest.raises(raw_ingest.IngestError, match=message) as raised:
        raw_ingest.run(env, s3)
    assert env["SOURCE_URI"] in str(raised.value)
    assert keys(s3, bucket) == []


def test_checksum_mismatch_is_refused(buckets):
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", (HEADER + ROW).encode(), sums=b"0" * 64 + b"  m.csv\n")
    with pytest.raises(raw_ingest.IngestError, match="differs from 0000"):
        raw_ingest.run(env, s3)
    assert keys(s3, bucket) == []


def test_checksums_file_without_the_source_is_refused(buckets):
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", (HEADER + ROW).encode(), sums=b"abc  other.csv\n")
    with pytest.raises(raw_ingest.IngestError, match=r"lists no digest for m\.csv"):
        raw_ingest.run(env, s3)


def test_missing_source_names_the_uri(buckets):
    s3, bucket = buckets
    env = {"SOURCE_URI": f"s3://{bucket}/nope.csv", "TARGET_PREFIX": f"s3://{bucket}/raw/", "MONTH": "2011-01"}
    with pytest.raises(raw_ingest.IngestError, match=re.escape(f"s3://{bucket}/nope.csv does not exist")):
        raw_ingest.run(env, s3)


def test_entry_point_exits_non_zero_with_the_error_on_stderr(stack, buckets):
    s3, bucket = buckets
    env = drop(s3, bucket, "m.csv", HEADER.replace("Country", "Land").encode())
    result = subprocess.run(
        [sys.executable, "-m", "include.jobs.raw_ingest"],
        env={
            **env,
            "AWS_ENDPOINT_URL": stack.url,
            "AWS_CA_BUNDLE": stack.ca_bundle,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": str(raw_ingest.__file__).rsplit("/include/", 1)[0],
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"ERROR: {env['SOURCE_URI']} line 1: header")
    assert "unexpected ['Land']" in result.stderr
