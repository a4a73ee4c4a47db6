"""The preprocessing job against the local S3 and SSM: configuration, fit, atomic publication, reruns."""

from __future__ import annotations

import gzip
import io
import json
import uuid

import pyarrow.parquet as pq
import pytest

from devstack.datasets import month_file
from include.preprocessing import __main__ as cli
from include.preprocessing import config, job


class Env:
    def __init__(self, stack) -> None:
        self.s3, self.ssm = stack.client("s3"), stack.client("ssm")
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"/test-{tag}/preprocessing"
        self.input, self.output, self.artifact = (f"{p}-{tag}" for p in ("input", "output", "artifact"))
        for bucket in (self.input, self.output, self.artifact):
            self.s3.create_bucket(Bucket=bucket)
        self.set(
            **{
                "input-bucket": self.input,
                "output-bucket": self.output,
                "artifact-bucket": self.artifact,
                "input-key": "raw/online-retail/",
                "model-key": "preprocessing/model/current.json",
            }
        )

    def set(self, **values: str) -> None:
        for name, value in values.items():
            self.ssm.put_parameter(Name=f"{self.prefix}/{name}", Value=value, Type="String", Overwrite=True)

    def land(self, month: str, body: bytes | None = None) -> None:
        """What raw_data_landing leaves: the data object, then its manifest."""
        key = f"raw/online-retail/month={month}/data.csv.gz"
        self.s3.put_object(Bucket=self.input, Key=key, Body=body or month_file(month).read_bytes())
        manifest = {"month": month, "data_uri": f"s3://{self.input}/{key}", "sha256": "x", "rows": 1}
        self.s3.put_object(
            Bucket=self.input, Key=f"raw/online-retail/month={month}/_manifest.json", Body=json.dumps(manifest)
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def manifest(self, month: str) -> dict:
        body = self.s3.get_object(Bucket=self.output, Key=f"processed/month={month}/_manifest.json")["Body"]
        return json.loads(body.read())


@pytest.fixture
def env(stack) -> Env:
    return Env(stack)


@pytest.fixture
def fitted_env(env) -> Env:
    for month in ("2011-08", "2011-09", "2011-10"):
        env.land(month)
    job.fit(env.s3, env.ssm, env.prefix, "2011-09", 2)
    return env


def test_fit_uses_the_landed_window_and_stores_json_under_its_content_id(fitted_env):
    env = fitted_env
    stored = json.loads(env.s3.get_object(Bucket=env.artifact, Key="preprocessing/model/current.json")["Body"].read())
    assert stored["window"] == ["2011-08", "2011-09"]  # window of 2 ending at the month, 2011-10 excluded
    versions = env.keys(env.artifact, "preprocessing/model/")
    assert len(versions) == 2 and "preprocessing/model/current.json" in versions


def test_run_publishes_every_data_set_behind_a_manifest_and_a_rerun_replaces_it(fitted_env):
    env = fitted_env
    first = job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="first")
    manifest = env.manifest("2011-10")
    assert manifest["run_id"] == "first" and manifest["report"]["rows_in"] == 60_742
    assert set(manifest["files"]) == {
        "interactions.parquet",
        "personalize_interactions.csv",
        "quarantine.parquet",
        "user_features.parquet",
        "item_features.parquet",
        "quality_report.json",
    }
    assert first["manifest_uri"] == f"s3://{env.output}/processed/month=2011-10/_manifest.json"
    interactions = env.s3.get_object(Bucket=env.output, Key="processed/month=2011-10/run=first/interactions.parquet")
    assert pq.read_metadata(io.BytesIO(interactions["Body"].read())).num_rows == manifest["report"]["rows_out"]

    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="second")
    keys = env.keys(env.output, "processed/month=2011-10/")
    assert {k.split("/")[2] for k in keys if "/run=" in k} == {"run=second"}  # the first run is gone
    assert env.manifest("2011-10")["run_id"] == "second"


def test_a_failed_publication_leaves_the_previous_run_in_place_and_nothing_half_written(fitted_env):
    env = fitted_env
    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="good")
    before = env.keys(env.output)

    class ManifestWriteFails:
        def __init__(self, s3) -> None:
            self._s3 = s3

        def put_object(self, **kwargs):
            if kwargs["Key"].endswith("_manifest.json"):
                raise ConnectionError("network gone while writing the manifest")
            return self._s3.put_object(**kwargs)

        def __getattr__(self, name):
            return getattr(self._s3, name)

    with pytest.raises(ConnectionError):
        job.run(ManifestWriteFails(env.s3), env.ssm, env.prefix, "2011-10", run_id="broken")
    assert env.keys(env.output) == before
    assert env.manifest("2011-10")["run_id"] == "good"


def test_a_malformed_month_exits_1_naming_the_problem_and_publishes_nothing(fitted_env, stack, monkeypatch, capsys):
    env = fitted_env
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.url)
    monkeypatch.setenv("SSM_PREFIX", env.prefix)

    lines = gzip.decompress(month_file("2011-10").read_bytes()).decode().splitlines()
    lines[500] = lines[500].replace("2011-10-", "10/2011/", 1)
    env.land("2011-11", gzip.compress(("\n".join(lines) + "\n").encode()))

    assert cli.main(["run", "--month", "2011-11"]) == 1
    err = capsys.readouterr().err
    assert "ERROR:" in err and "column InvoiceDate, line 501" in err
    assert env.keys(env.output, "processed/month=2011-11/") == []


def test_missing_model_or_month_says_what_to_do(env, stack, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.url)
    monkeypatch.setenv("SSM_PREFIX", env.prefix)
    assert cli.main(["run", "--month", "2011-10"]) == 1
    assert "no preprocessing model at" in capsys.readouterr().err
    env.land("2011-09")
    assert cli.main(["fit", "--until", "2011-09", "--window", "3"]) == 0
    assert cli.main(["run", "--month", "2011-10"]) == 1
    assert "month 2011-10 has not landed" in capsys.readouterr().err


def test_missing_parameters_are_named(stack):
    with pytest.raises(config.ConfigError, match=r"/nowhere/input-bucket"):
        config.load(stack.client("ssm"), "/nowhere")


def test_a_custom_script_from_the_artifact_bucket_quarantines_with_its_own_reason(fitted_env):
    env = fitted_env
    script = (
        "import pyarrow.compute as pc\n"
        "def keep(clean):\n"
        "    return pc.invert(pc.equal(clean.column('item_id'), '85099B'))\n"
        "def transform(clean):\n"
        "    return clean.append_column('basket_size', pc.cast(clean.column('quantity'), 'float64'))\n"
    )
    env.s3.put_object(Bucket=env.artifact, Key="custom/rules.py", Body=script.encode())
    env.set(**{"script-key": "custom/rules.py"})
    result = job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="custom")
    report = result["report"]
    assert report["quarantined_by_reason"]["custom_rule"] > 100  # JUMBO BAG RED RETROSPOT is a best seller
    assert report["custom_script"] == "custom/rules.py"
    body = env.s3.get_object(Bucket=env.output, Key="processed/month=2011-10/run=custom/interactions.parquet")
    table = pq.read_table(io.BytesIO(body["Body"].read()))
    assert "basket_size" in table.column_names and "85099B" not in set(table.column("item_id").to_pylist())


def test_custom_code_is_only_taken_from_the_artifact_bucket(env):
    env.set(**{"script-key": "s3://someone-elses-bucket/evil.py"})
    with pytest.raises(config.ConfigError, match="inside the artifact bucket"):
        config.load(env.ssm, env.prefix)
    env.set(**{"script-key": "../other/evil.py"})
    with pytest.raises(config.ConfigError, match="inside the artifact bucket"):
        config.load(env.ssm, env.prefix)


def test_a_custom_package_is_importable_by_the_custom_script(fitted_env):
    """The package (a pure-Python zip or wheel) goes on sys.path; it is imported, never installed."""
    import sys
    import zipfile

    env = fitted_env
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("retail_rules/__init__.py", "BLOCKED = {'22086'}\n")
    env.s3.put_object(Bucket=env.artifact, Key="custom/retail_rules-1.0-py3-none-any.whl", Body=archive.getvalue())
    env.s3.put_object(
        Bucket=env.artifact,
        Key="custom/uses_package.py",
        Body=(
            b"import pyarrow as pa, pyarrow.compute as pc\n"
            b"from retail_rules import BLOCKED\n"
            b"def keep(clean):\n"
            b"    return pc.invert(pc.is_in(clean.column('item_id'), value_set=pa.array(sorted(BLOCKED))))\n"
        ),
    )
    env.set(**{"script-key": "custom/uses_package.py", "package-key": "custom/retail_rules-1.0-py3-none-any.whl"})
    try:
        report = job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="package")["report"]
    finally:
        sys.modules.pop("retail_rules", None)
        sys.path[:] = [p for p in sys.path if "retail_rules" not in p]
    assert report["custom_package"] == "custom/retail_rules-1.0-py3-none-any.whl"
    assert report["quarantined_by_reason"]["custom_rule"] > 50  # PAPER CHAIN KIT 50'S CHRISTMAS, a best seller
