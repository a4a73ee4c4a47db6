"""Package a Lambda function's source folder reproducibly and upload it content-addressed.

The zip is byte-identical for identical sources (sorted entries, fixed timestamps and modes), and
its key carries the digest, so redeploying unchanged code passes the same `CodeKey` to
CloudFormation: no change set, no new function version. Changed code gets a new key, which is
what makes CloudFormation update the function.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def build_zip(source_dir: Path) -> bytes:
    """Zip `source_dir` as a top-level package of the same name (handler `<name>/handler.handler`)."""
    files = sorted(p for p in source_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise FileNotFoundError(f"no files to package in {source_dir}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(str(Path(source_dir.name) / path.relative_to(source_dir)), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def upload_package(s3_client, source_dir: Path, bucket: str, prefix: str = "artifacts/lambda") -> str:
    """Upload the package unless that exact content is already there; returns its key."""
    body = build_zip(source_dir)
    key = f"{prefix.rstrip('/')}/{source_dir.name}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
    except s3_client.exceptions.ClientError as err:
        if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
    return key
