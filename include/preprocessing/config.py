"""The job's configuration, read at start from SSM Parameter Store under `SSM_PREFIX`.

The preprocessing stack owns the parameters (`/<project>/<env>/preprocessing/...`, one set per
environment); an operator changes the
model or adds a custom script by changing a parameter, not the image or the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass

from include.preprocessing import limits

REQUIRED = ("input-bucket", "output-bucket", "artifact-bucket", "input-key", "model-key")
OPTIONAL = ("script-key", "package-key", "max-bad-share")


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class JobConfig:
    prefix: str
    input_bucket: str
    output_bucket: str
    artifact_bucket: str
    input_key: str
    model_key: str
    script_key: str | None = None
    package_key: str | None = None
    max_bad_share: float = limits.DEFAULT_MAX_BAD_SHARE  # see limits.py

    def raw_month_prefix(self, month: str) -> str:
        """Where raw_data_landing puts a month: `<input-key>month=YYYY-MM/` (manifest inside)."""
        return f"{self.input_key.rstrip('/')}/month={month}/"


def _artifact_key(name: str, value: str | None) -> str | None:
    """Custom code may only come from the artifact bucket, named by a plain key."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "://" in value or value.startswith("/") or ".." in value.split("/"):
        raise ConfigError(
            f"parameter {name} = {value!r}: give a key inside the artifact bucket (no URI, no absolute or '..' path)"
        )
    return value


def load(ssm, prefix: str) -> JobConfig:
    prefix = "/" + prefix.strip("/")
    values: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=False, WithDecryption=True):
        for parameter in page["Parameters"]:
            values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    missing = [f"{prefix}/{name}" for name in REQUIRED if not values.get(name)]
    if missing:
        raise ConfigError(f"SSM parameters missing: {', '.join(missing)} (deployed by the preprocessing stack)")
    return JobConfig(
        prefix=prefix,
        input_bucket=values["input-bucket"],
        output_bucket=values["output-bucket"],
        artifact_bucket=values["artifact-bucket"],
        input_key=values["input-key"],
        model_key=values["model-key"],
        script_key=_artifact_key(f"{prefix}/script-key", values.get("script-key")),
        package_key=_artifact_key(f"{prefix}/package-key", values.get("package-key")),
        max_bad_share=_share(f"{prefix}/max-bad-share", values.get("max-bad-share")),
    )


def _share(name: str, value: str | None) -> float:
    try:
        return limits.parse_share(value, f"parameter {name}")
    except ValueError as err:
        raise ConfigError(str(err)) from err
