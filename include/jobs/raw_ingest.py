"""Raw-data landing job (the `mlops-raw-ingest` image): copy one month's raw purchase file from the
drop location into the platform's raw zone, verified, or fail saying exactly what is wrong.

Configuration comes from the environment the ECS task definition and the DAG's overrides set:
  SOURCE_URI      s3://bucket/key of the month's file (plain or gzipped CSV)
  TARGET_PREFIX   s3://bucket/prefix/ of the month in the raw zone
  CHECKSUMS_URI   optional s3:// URI of a `sha256sum`-style file listing the source's digest
  MONTH           YYYY-MM, recorded in the manifest

What makes a landing trustworthy: the data object appears only once it is fully verified (it is
staged, then copied into place), and `_manifest.json` is written last, so a reader that sees the
manifest sees complete data. A rerun overwrites the same keys: it never duplicates.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import boto3

EXPECTED_HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
CHUNK = 1 << 20
MANIFEST = "_manifest.json"


class IngestError(Exception):
    """A problem with the input that a person must fix; the message says what and where."""


@dataclass
class Manifest:
    month: str
    source_uri: str
    data_uri: str
    sha256: str
    bytes: int
    rows: int
    malformed_rows: int
    compressed: bool
    header: list[str]
    ingested_at: str
    task_arn: str | None


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise IngestError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def download(s3, uri: str, dest) -> tuple[str, int]:
    """Stream the object to `dest`, returning its SHA-256 and size."""
    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey as err:
        raise IngestError(f"source object {uri} does not exist") from err
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: body.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
        dest.write(chunk)
    dest.flush()
    return digest.hexdigest(), size


def expected_digest(s3, checksums_uri: str, source_uri: str) -> str:
    bucket, key = split_s3_uri(checksums_uri)
    name = source_uri.rsplit("/", 1)[-1]
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name:
            return parts[0].lower()
    raise IngestError(f"{checksums_uri} lists no digest for {name}")


def inspect_csv(path: str, source_uri: str) -> tuple[bool, list[str], int, int]:
    """Check compression, encoding, header and field counts; return (gzipped, header, rows, malformed)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                raise IngestError(f"{source_uri}: the file is empty (no header line)")
            header = [h.strip().lstrip("\ufeff") for h in header]
            if header != EXPECTED_HEADER:
                missing = [c for c in EXPECTED_HEADER if c not in header]
                extra = [c for c in header if c not in EXPECTED_HEADER]
                raise IngestError(
                    f"{source_uri} line 1: header {header} does not match the expected columns "
                    f"{EXPECTED_HEADER} (missing {missing}, unexpected {extra})"
                )
            rows = malformed = 0
            for rows, record in enumerate(reader, start=1):  # noqa: B007 - rows is the count
                if len(record) != len(EXPECTED_HEADER):
                    malformed += 1
    except UnicodeDecodeError as err:
        raise IngestError(f"{source_uri}: not UTF-8 text near byte {err.start} of the decompressed data") from err
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise IngestError(f"{source_uri}: corrupt or truncated gzip data ({err})") from err
    except csv.Error as err:
        raise IngestError(f"{source_uri} line {reader.line_num}: unparsable CSV ({err})") from err
    return gzipped, header, rows, malformed


def publish(s3, path: str, target_prefix: str, manifest: Manifest, gzipped: bool) -> None:
    """Stage, then copy into place, then write the manifest: readers never see partial data."""
    bucket, prefix = split_s3_uri(target_prefix.rstrip("/") + "/")
    data_key = prefix + ("data.csv.gz" if gzipped else "data.csv")
    staging_key = f"{prefix}_staging/{uuid.uuid4().hex}"
    s3.upload_file(path, bucket, staging_key)
    try:
        s3.copy_object(Bucket=bucket, Key=data_key, CopySource={"Bucket": bucket, "Key": staging_key})
    finally:
        s3.delete_object(Bucket=bucket, Key=staging_key)
    manifest.data_uri = f"s3://{bucket}/{data_key}"
    s3.put_object(
        Bucket=bucket,
        Key=prefix + MANIFEST,
        Body=json.dumps(asdict(manifest), indent=2).encode("utf-8"),
        ContentType="application/json",
    )


def run(env: dict[str, str], s3=None) -> Manifest:
    s3 = s3 or boto3.client("s3")
    try:
        source_uri, target_prefix, month = env["SOURCE_URI"], env["TARGET_PREFIX"], env["MONTH"]
    except KeyError as err:
        raise IngestError(f"environment variable {err.args[0]} is required") from err
    with tempfile.NamedTemporaryFile(suffix=".raw") as tmp:
        sha256, size = download(s3, source_uri, tmp)
        print(f"downloaded {source_uri}: {size} bytes, sha256 {sha256}")
        if env.get("CHECKSUMS_URI"):
            expected = expected_digest(s3, env["CHECKSUMS_URI"], source_uri)
            if expected != sha256:
                raise IngestError(f"{source_uri}: sha256 {sha256} differs from {expected} in {env['CHECKSUMS_URI']}")
            print(f"checksum matches {env['CHECKSUMS_URI']}")
        gzipped, header, rows, malformed = inspect_csv(tmp.name, source_uri)
        print(f"validated {rows} rows ({malformed} with a wrong field count), gzip={gzipped}")
        manifest = Manifest(
            month=month,
            source_uri=source_uri,
            data_uri="",
            sha256=sha256,
            bytes=size,
            rows=rows,
            malformed_rows=malformed,
            compressed=gzipped,
            header=header,
            ingested_at=datetime.now(UTC).isoformat(),
            task_arn=env.get("ECS_TASK_ARN"),
        )
        publish(s3, tmp.name, target_prefix, manifest, gzipped)
    print(f"landed {manifest.data_uri} with {target_prefix.rstrip('/')}/{MANIFEST}")
    return manifest


def main() -> int:
    try:
        run(dict(os.environ))
    except IngestError as err:
        print(f"ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
