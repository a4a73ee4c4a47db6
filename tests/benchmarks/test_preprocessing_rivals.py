"""The benchmark's rivals (DuckDB, Polars, pandas) do the job's work: on a real month, and on odd
values, they keep the same rows and quarantine the same counts per reason. If a rule changes in
the job and not in a rival, this fails before the benchmark compares different work."""

from __future__ import annotations

import gzip

import pytest

from benchmarks import preprocessing_baseline, preprocessing_duckdb, preprocessing_polars
from devstack.datasets import online_retail_dir
from include.preprocessing import job, schema

HEADER = ",".join(schema.RAW_COLUMNS)
# (column index, value) on a clean real line: each of these rows is quarantined by the job
ODD = [
    (3, "99999999999999999999"),
    (3, "+5"),
    (3, "1e3"),
    (3, " 7 "),  # trimmed: a clean row
    (5, "nan"),
    (5, "inf"),
    (5, "1e3"),
    (5, "+5"),
    (5, "9" * 400),
    (5, ".5"),  # a clean row
    (6, "12345.5"),
    (6, "nan"),
    (6, "1e30"),
    (6, "9" * 19),
    (6, "017850.00"),  # a clean row, user 17850
    (6, ""),
    (4, "2011-02-30 10:00:00"),
    (4, "2011-10-03 24:00:00"),
    (4, "10/03/2011 10:00"),
    (0, "C569203"),
    (0, "CC569203"),  # digits after the Cs: a cancellation
    (0, "56920"),
    (0, "1234567890123"),
    (1, " post "),
    (1, "85123a"),  # upper-cased: a product
]


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """2011-10 (60,742 lines) as plain CSV, then one line per odd value."""
    with gzip.open(online_retail_dir() / "2011-10.csv.gz", "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    good = lines[1].split(",")
    odd = [",".join([*good[:i], value, *good[i + 1 :]]) for i, value in ODD]
    path = tmp_path_factory.mktemp("rivals") / "2011-10.csv"
    path.write_text("\n".join([*lines, *odd]) + "\n", encoding="utf-8")
    real = tmp_path_factory.getbasetemp() / "rivals-real.csv"
    real.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, real


@pytest.fixture(scope="module")
def fitted():
    path = online_retail_dir() / "2011-09.csv.gz"
    return job.fit_files([(str(path), path.name)], ["2011-09"])


@pytest.fixture(scope="module")
def expected(month, fitted, tmp_path_factory):
    out = tmp_path_factory.mktemp("job")
    reports = {}
    for name, path in zip(("odd", "real"), month, strict=True):
        _, report = job.process_file(str(path), path.name, fitted, str(out / name))
        reports[name] = report
    odd, real = reports["odd"], reports["real"]
    assert odd["rows_in"] == real["rows_in"] + len(ODD)
    assert odd["rows_out"] == real["rows_out"] + 4  # the four odd values that are clean
    return reports


def _same_work(got: dict, report: dict) -> None:
    assert got["rows_in"] == report["rows_in"]
    assert got["rows_out"] == report["rows_out"]
    assert got["quarantined_by_reason"] == report["quarantined_by_reason"]
    assert (got["users"], got["items"]) == (report["users"], report["items"])


@pytest.mark.parametrize("rival", [preprocessing_duckdb, preprocessing_polars], ids=["duckdb", "polars"])
def test_rivals_keep_and_quarantine_what_the_job_does(rival, month, fitted, expected, tmp_path):
    for name, path in zip(("odd", "real"), month, strict=True):
        _same_work(rival.run(str(path), fitted, str(tmp_path / name)), expected[name])


def test_the_pandas_baseline_does_the_jobs_work_on_the_real_month(month, fitted, expected, tmp_path):
    """pandas parses numbers laxly (`1e3`, `nan`), so it is held to the real data only."""
    _same_work(preprocessing_baseline.run(str(month[1]), fitted, str(tmp_path)), expected["real"])
