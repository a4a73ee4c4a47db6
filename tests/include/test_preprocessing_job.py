"""The preprocessing job against the local S3 and SSM: configuration, fit, candidate publication and
promotion, reruns, retries that fail mid-upload."""

from __future__ import annotations

import gzip
import io
import json
import uuid

import pyarrow.parquet as pq
import pytest

from devstack.datasets import month_file
from include.preprocessing import __main__ as cli
from include.preprocessing import config, job, outputs, quality


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


def promote(env: Env, month: str, run_id: str) -> dict:
    """What the DAG's `promote` task does once the quality gate passed."""
    live, _ = outputs.promote(env.s3, env.output, f"processed/month={month}/", run_id)
    return live


def read_all(env: Env, manifest: dict) -> None:
    """Every file the manifest names is there and complete (Parquet footers parse)."""
    for name, uri in manifest["files"].items():
        body = env.s3.get_object(Bucket=env.output, Key=uri.split("/", 3)[3])["Body"].read()
        if name.endswith(".parquet"):
            assert pq.read_metadata(io.BytesIO(body)).num_rows >= 0


def test_run_publishes_a_candidate_readers_ignore_until_it_is_promoted_and_a_rerun_replaces_it(fitted_env, stack):
    env = fitted_env
    first = job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="first")
    assert first["candidate_uri"] == f"s3://{env.output}/processed/month=2011-10/_candidate.json"
    assert "processed/month=2011-10/_manifest.json" not in env.keys(env.output)  # nothing live yet
    live = promote(env, "2011-10", "first")
    manifest = env.manifest("2011-10")
    assert manifest == live and manifest["run_id"] == "first" and manifest["report"]["rows_in"] == 60_742
    assert set(manifest["files"]) == {
        "interactions.parquet",
        "personalize_interactions.csv",
        "quarantine.parquet",
        "user_features.parquet",
        "item_features.parquet",
        "quality_report.json",
    }
    assert manifest["run_prefix"].startswith(f"s3://{env.output}/processed/month=2011-10/run=first.")
    key = manifest["files"]["interactions.parquet"].split("/", 3)[3]
    interactions = env.s3.get_object(Bucket=env.output, Key=key)
    assert pq.read_metadata(io.BytesIO(interactions["Body"].read())).num_rows == manifest["report"]["rows_out"]
    assert "processed/month=2011-10/_candidate.json" not in env.keys(env.output)

    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="second")
    assert env.manifest("2011-10")["run_id"] == "first"  # the candidate is not live
    second = promote(env, "2011-10", "second")
    keys = env.keys(env.output, "processed/month=2011-10/")
    assert {k.split("/")[2] for k in keys if "/run=" in k} == {second["run_prefix"].split("/")[-2]}
    assert env.manifest("2011-10")["run_id"] == "second"
    assert promote(env, "2011-10", "second")["attempt"] == second["attempt"]  # a retried promotion: no-op


def test_a_month_that_fails_its_gate_never_reaches_the_readers_and_the_previous_run_stays(fitted_env, stack):
    """A re-drop full of another month's dates: every row is outside the month, so the DAG's gate
    refuses it and never promotes it; readers keep the good run."""
    env = fitted_env
    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="good")
    good = promote(env, "2011-10", "good")
    env.land("2011-10", month_file("2011-09").read_bytes())  # September's lines re-dropped as October
    report = job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="redrop")["report"]
    assert report["rows_out"] == 0 and quality.problems(
        report, max_quarantine_share=0.35, max_malformed_share=0.01, min_rows_out=1000
    )
    # the gate failed: no promotion. What a reader sees is the good run, complete.
    assert env.manifest("2011-10") == good
    read_all(env, good)
    candidate = json.loads(
        env.s3.get_object(Bucket=env.output, Key="processed/month=2011-10/_candidate.json")["Body"].read()
    )
    assert candidate["run_id"] == "redrop" and candidate["report"]["rows_out"] == 0
    with pytest.raises(outputs.NotPromotable, match="no candidate of run 'other'"):
        promote(env, "2011-10", "other")


def test_a_retry_in_the_same_run_with_a_failed_upload_leaves_the_live_month_intact(fitted_env, stack):
    """The DAG retries `preprocess` with the same RUN_ID. The retry writes under a prefix of its
    own; S3 fails it mid-upload (fault injected into the local S3's PutObject); it deletes only
    what it uploaded, and the live month is still complete and readable."""
    from localaws.faults import ApiFault

    env = fitted_env
    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="same")
    live = promote(env, "2011-10", "same")
    before = env.keys(env.output)

    class FailsOnTheThirdFile:
        def __init__(self, s3) -> None:
            self._s3, self.uploads = s3, 0

        def upload_file(self, *args, **kwargs):
            self.uploads += 1
            if self.uploads == 3:  # 3 attempts (standard retries): all fail, the fault is spent
                fault = ApiFault("s3", "PutObject", "InternalError", "We encountered an internal error", 3, 500)
                stack.faults.arm(fault)
            return self._s3.upload_file(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._s3, name)

    s3 = FailsOnTheThirdFile(env.s3)
    try:
        with pytest.raises(Exception, match=r"InternalError"):
            job.run(s3, env.ssm, env.prefix, "2011-10", run_id="same")
    finally:
        stack.faults.clear()
    assert s3.uploads == 3
    assert env.keys(env.output) == before  # the failed attempt removed its own two files, nothing else
    assert env.manifest("2011-10") == live
    read_all(env, live)
    with pytest.raises(outputs.NotPromotable):  # its candidate was never written: nothing to promote
        outputs.promote(env.s3, env.output, "processed/month=2011-10/", "other-run")

    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="same")  # the next retry succeeds
    again = promote(env, "2011-10", "same")
    assert again["attempt"] != live["attempt"] and env.manifest("2011-10") == again
    read_all(env, again)


def test_a_failed_candidate_manifest_leaves_nothing_half_written(fitted_env):
    env = fitted_env
    job.run(env.s3, env.ssm, env.prefix, "2011-10", run_id="good")
    promote(env, "2011-10", "good")
    before = env.keys(env.output)

    class ManifestWriteFails:
        def __init__(self, s3) -> None:
            self._s3 = s3

        def put_object(self, **kwargs):
            if kwargs["Key"].endswith(".json") and "/run=" not in kwargs["Key"]:
                raise ConnectionError("network gone while writing the candidate manifest")
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
    lines[500:] = [line.replace("2011-10-", "10/2011/", 1) for line in lines[500:]]  # another date format
    env.land("2011-11", gzip.compress(("\n".join(lines) + "\n").encode()))

    assert cli.main(["run", "--month", "2011-11"]) == 1
    err = capsys.readouterr().err
    assert "ERROR:" in err and "column InvoiceDate: values that are not dates" in err
    assert "60,243 of 60,742 lines (99.2%)" in err and "first at line 501 '10/2011/" in err
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
    body = env.s3.get_object(Bucket=env.output, Key=result["files"]["interactions.parquet"].split("/", 3)[3])
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


def test_an_aws_refusal_exits_1_with_an_error_line_not_a_traceback(fitted_env, stack, monkeypatch, capsys):
    from localaws.faults import ApiFault

    env = fitted_env
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.url)
    monkeypatch.setenv("SSM_PREFIX", env.prefix)
    stack.faults.arm(ApiFault("s3", "PutObject", "AccessDenied", "Access Denied (injected)", 1, 403))
    assert cli.main(["run", "--month", "2011-10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR: AWS call failed: ") and "AccessDenied" in err and "Traceback" not in err
    assert env.keys(env.output) == []  # nothing half-written, no candidate
