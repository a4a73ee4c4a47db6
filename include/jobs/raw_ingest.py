"""Raw-data landing job (the `mlops-raw-ingest` image): copy one month's raw purchase file from the
drop location into the platform's raw zone, verified, or fail saying exactly what is wrong.

Configuration comes from the environment the ECS task definition and the DAG's overrides set:
  SOURCE_URI      s3://bucket/key of the month's file (plain or gzipped CSV)
  TARGET_PREFIX   s3://bucket/prefix/ of the month in the raw zone
  CHECKSUMS_URI   optional s3:// URI of a `sha256sum`-style file listing the source's digest
  MONTH           YYYY-MM, recorded in the manifest
  MAX_BAD_SHARE   optional share of lines with a wrong field count above which the file is refused
                  (the DAG passes the SSM parameter /<project>/<env>/preprocessing/max-bad-share)
  STAGING_PREFIX  optional s3:// prefix, in the target's bucket, for uploads not yet in place
                  (default `<first folder of the target>/_staging/`; a lifecycle rule expires leftovers)

What makes a landing trustworthy: the file is checked with the preprocessing job's own limits
(field count share, line length) and a file without data rows is refused. Each landing gets keys
of its own: staged, copied to `<month>/landing=<id>/`, then `_manifest.json` is written pointing
at it (one PutObject: a reader sees the old landing or the new one, never new data under the old
manifest), then the landing the old manifest named is deleted. A rerun replaces; it never duplicates.
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

from include.preprocessing import limits

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


def inspect_csv(path: str, source_uri: str, max_bad_share: float = limits.DEFAULT_MAX_BAD_SHARE):
    """Check compression, encoding, header, line length and field counts with the preprocessing
    job's limits; return (gzipped, header, rows, malformed)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    csv.field_size_limit(limits.MAX_LINE_BYTES)
    malformed_lines: list[int] = []
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
            width = len(EXPECTED_HEADER)
            for rows, record in enumerate(reader, start=1):  # noqa: B007 - rows is the count
                if len(record) != width:
                    malformed += 1
                    if len(malformed_lines) < limits.EXAMPLES:
                        malformed_lines.append(reader.line_num)
                elif sum(map(len, record)) > limits.MAX_LINE_BYTES:
                    raise IngestError(
                        f"{source_uri} line {reader.line_num}: longer than {limits.MAX_LINE_BYTES:,} "
                        "characters, the preprocessing job's limit"
                    )
    except UnicodeDecodeError as err:
        raise IngestError(f"{source_uri}: not UTF-8 text near byte {err.start} of the decompressed data") from err
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise IngestError(f"{source_uri}: corrupt or truncated gzip data ({err})") from err
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            raise IngestError(
                f"{source_uri} line {reader.line_num}: longer than {limits.MAX_LINE_BYTES:,} characters, "
                "the preprocessing job's limit"
            ) from err
        raise IngestError(f"{source_uri} line {reader.line_num}: unparsable CSV ({err})") from err
    if rows - malformed <= 0:
        raise IngestError(f"{source_uri}: no data rows ({rows} lines after the header, {malformed} malformed)")
    if limits.too_many(malformed, rows, max_bad_share):
        what = f"lines without the header's {len(EXPECTED_HEADER)} fields"
        raise IngestError(f"{source_uri}: {limits.refusal(what, malformed, rows, max_bad_share, malformed_lines)}")
    return gzipped, header, rows, malformed


def staging_prefix(target_prefix: str, configured: str | None) -> tuple[str, str]:
    """(bucket, key prefix) for uploads not yet in place: in the target's bucket (CopyObject)."""
    bucket, prefix = split_s3_uri(target_prefix)
    if configured:
        staging_bucket, staging = split_s3_uri(configured.rstrip("/") + "/")
        if staging_bucket != bucket:
            raise IngestError(f"STAGING_PREFIX {configured} must be in the target's bucket {bucket}")
        return bucket, staging
    return bucket, prefix.split("/", 1)[0] + "/_staging/"


def publish(s3, path: str, target_prefix: str, manifest: Manifest, gzipped: bool, staging: str | None = None) -> None:
    """Stage, copy into keys of this landing's own, write the manifest, delete the landing it replaced."""
    bucket, prefix = split_s3_uri(target_prefix.rstrip("/") + "/")
    _, staging_key_prefix = staging_prefix(f"s3://{bucket}/{prefix}", staging)
    landing = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    name = "data.csv.gz" if gzipped else "data.csv"
    data_key = f"{prefix}landing={landing}/{name}"
    staging_key = f"{staging_key_prefix}{landing}/{name}"
    previous = _manifest_data_uri(s3, bucket, prefix + MANIFEST)  # no ListBucket needed: the manifest names it
    s3.upload_file(path, bucket, staging_key)
    try:
        s3.copy_object(Bucket=bucket, Key=data_key, CopySource={"Bucket": bucket, "Key": staging_key})
        manifest.data_uri = f"s3://{bucket}/{data_key}"
        s3.put_object(
            Bucket=bucket,
            Key=prefix + MANIFEST,
            Body=json.dumps(asdict(manifest), indent=2).encode("utf-8"),
            ContentType="application/json",
        )
    except BaseException:
        if _manifest_data_uri(s3, bucket, prefix + MANIFEST) != manifest.data_uri:  # e.g. a write that timed out
            s3.delete_object(Bucket=bucket, Key=data_key)
        raise
    finally:
        s3.delete_object(Bucket=bucket, Key=staging_key)  # a leftover (task killed) expires by lifecycle
    if previous and previous != manifest.data_uri and previous.startswith(f"s3://{bucket}/{prefix}"):
        s3.delete_object(Bucket=bucket, Key=previous[len(f"s3://{bucket}/") :])  # superseded landing


def _manifest_data_uri(s3, bucket: str, key: str) -> str | None:
    """The data object a month's manifest names, or None when there is no readable manifest."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).get("data_uri")
    except s3.exceptions.ClientError as err:
        # Without s3:ListBucket (the task role has none) S3 answers a missing key with AccessDenied.
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "AccessDenied", "404", "403"):
            return None
        raise
    except (ValueError, AttributeError):  # not a JSON object: nothing it names is kept
        return None


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
        try:
            max_bad_share = limits.parse_share(env.get("MAX_BAD_SHARE"), "MAX_BAD_SHARE")
        except ValueError as err:
            raise IngestError(str(err)) from err
        gzipped, header, rows, malformed = inspect_csv(tmp.name, source_uri, max_bad_share)
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
        publish(s3, tmp.name, target_prefix, manifest, gzipped, env.get("STAGING_PREFIX"))
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
