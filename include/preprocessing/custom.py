"""Optional user code: a script (and a package it imports) from the artifact bucket, run only when
its SSM parameter is set.

The script is a Python file that may define either or both of:
  keep(clean: pyarrow.Table) -> pyarrow boolean array   rows answered False are quarantined
                                                       with reason `custom_rule`
  transform(clean: pyarrow.Table) -> pyarrow.Table       may add columns; must keep every row and
                                                       the interaction columns
The package is a pure-Python wheel or zip, put on `sys.path` (imported in place, never installed).
Keys come from SSM and always resolve inside the artifact bucket (see `config`): code from any
other place is never run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import pyarrow as pa

from include.preprocessing import schema


class CustomCodeError(Exception):
    pass


@dataclass
class CustomCode:
    module: ModuleType
    source: str

    def keep(self, clean: pa.Table) -> pa.Array | None:
        if not hasattr(self.module, "keep"):
            return None
        mask = self.module.keep(clean)
        mask = pa.array(mask, pa.bool_()) if not isinstance(mask, pa.Array | pa.ChunkedArray) else mask
        if len(mask) != clean.num_rows or mask.null_count:
            raise CustomCodeError(f"{self.source}: keep() must return one non-null boolean per row")
        return mask

    def transform(self, clean: pa.Table) -> pa.Table:
        if not hasattr(self.module, "transform"):
            return clean
        out = self.module.transform(clean)
        if not isinstance(out, pa.Table) or out.num_rows != clean.num_rows:
            raise CustomCodeError(f"{self.source}: transform() must return a pyarrow.Table with every input row")
        missing = [n for n in schema.INTERACTIONS_SCHEMA.names if n not in out.column_names]
        if missing:
            raise CustomCodeError(f"{self.source}: transform() dropped the columns {missing}")
        return out


def load(s3, bucket: str, script_key: str | None, package_key: str | None, workdir: str) -> CustomCode | None:
    if package_key:
        local = os.path.join(workdir, os.path.basename(package_key))
        _download(s3, bucket, package_key, local)
        sys.path.insert(0, local)
        print(f"custom package s3://{bucket}/{package_key} on sys.path")
    if not script_key:
        return None
    local = os.path.join(workdir, "custom_preprocessing.py")
    _download(s3, bucket, script_key, local)
    spec = importlib.util.spec_from_file_location("custom_preprocessing", local)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise CustomCodeError(f"s3://{bucket}/{script_key} failed to load: {type(err).__name__}: {err}") from err
    if not hasattr(module, "keep") and not hasattr(module, "transform"):
        raise CustomCodeError(f"s3://{bucket}/{script_key} defines neither keep() nor transform()")
    print(f"custom script s3://{bucket}/{script_key} loaded")
    return CustomCode(module, f"s3://{bucket}/{script_key}")


def _download(s3, bucket: str, key: str, local: str) -> None:
    try:
        s3.download_file(bucket, key, local)
    except Exception as err:
        raise CustomCodeError(f"s3://{bucket}/{key} (from SSM) cannot be read: {err}") from err
