"""Lambda packages are reproducible and content-addressed, so unchanged code redeploys nothing."""

from __future__ import annotations

import io
import zipfile

from mlops.lambda_package import build_zip, upload_package


def test_same_source_same_bytes_and_key(tmp_path, stack):
    source = tmp_path / "api"
    source.mkdir()
    (source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"junk")
    first = build_zip(source)
    (source / "handler.py").touch()  # a new mtime must not change the package
    assert build_zip(source) == first
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["api/handler.py"]

    s3 = stack.client("s3")
    s3.create_bucket(Bucket="package-test")
    key = upload_package(s3, source, "package-test")
    assert upload_package(s3, source, "package-test") == key
    (source / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    changed = upload_package(s3, source, "package-test")
    assert changed != key and changed.startswith("artifacts/lambda/api-")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="package-test")["Contents"]]
    assert sorted(listed) == sorted([key, changed])
