"""Property-based fuzzing of the preprocessing job's reader and row rules (Hypothesis).

Whatever the bytes, the job either returns a report in which every line is accounted for
(rows in = clean + quarantined, and for line-shaped input rows in = the file's data lines) or
refuses the file with `MalformedInput`, the error the entry point prints as `ERROR: ...` - never
another exception, which would reach the task log as a bare traceback.
"""

from __future__ import annotations

import gzip
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.datasets import month_file
from include.preprocessing import job, model, schema

HEADER = ",".join(schema.RAW_COLUMNS) + "\n"
# A few seconds in all: process_file starts threads and writers per example.
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ODD = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e3",
    "1E-2",
    "+5",
    "-0",
    "0",
    "7",
    " 7 ",
    "2.55",
    ".5",
    "5.",
    "12345.5",
    "17850.0",
    "1e30",
    "99999999999999999999",
    "9" * 40,
    "0x10",
    "2011-10-05 10:00:00",
    "2011-10-05T10:00:00",
    "2011-02-30 10:00:00",
    "2011-10-05 24:00:00",
    "10/05/2011 10:00",
    "536365",
    "C536365",
    "A563185",
    "85123A",
    "POST",
    "DOT",
    "United Kingdom",
    '"a,b"',
    '"say ""hi"""',
    "é",
    "\u2028",
    "\x00",
]
# Any text but the CSV's structure characters, which the line-shaped strategy places itself.
FIELD_TEXT = st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=["Cs"]), max_size=12)
FIELD = st.one_of(st.sampled_from(ODD), FIELD_TEXT)
LINE = st.lists(FIELD, min_size=6, max_size=10).map(",".join)


@pytest.fixture(scope="module")
def october() -> list[str]:
    with gzip.open(month_file("2011-10"), "rt", encoding="utf-8") as fh:
        return [next(fh) for _ in range(201)]


@pytest.fixture(scope="module")
def fitted() -> model.PreprocessingModel:
    return job.fit_files([(str(month_file("2011-09")), "2011-09")], ["2011-09"])


def run(data: bytes, fitted, max_bad_share: float) -> dict | None:
    """The report, or None when the job refused the file with its own error."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as work:
        path = Path(work) / "input.csv"
        path.write_bytes(data)
        try:
            _, report = job.process_file(
                str(path), "fuzz.csv", fitted, str(Path(work) / "out"), "2011-10", max_bad_share=max_bad_share
            )
        except schema.MalformedInput as err:
            assert str(err).startswith("fuzz.csv"), err  # says where
            return None
        assert report["rows_in"] == report["rows_out"] + report["rows_quarantined"]
        assert report["rows_quarantined"] == sum(report["quarantined_by_reason"].values())
        personalize = (Path(work) / "out" / "personalize_interactions.csv").read_text().splitlines()
        assert len(personalize) == report["rows_out"] + 1
        for line in personalize[1:]:  # only clean interactions reach Personalize: integer users, finite values
            user, _, _, _, value = line.rsplit(",", 4) if line.count(",") > 4 else line.split(",")
            assert user.lstrip("-").isdigit() and math.isfinite(float(value)), line
    return report


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode)),
    header=st.booleans(),
    gzipped=st.booleans(),
)
def test_arbitrary_bytes_never_raise_anything_but_the_jobs_own_error(fitted, body, header, gzipped):
    data = (HEADER.encode() if header else b"") + body
    run(gzip.compress(data) if gzipped else data, fitted, max_bad_share=1.0)


@FUZZ
@given(lines=st.lists(LINE, min_size=0, max_size=40), max_bad_share=st.sampled_from([0.05, 1.0]))
def test_odd_values_in_csv_lines_are_each_accounted_for(fitted, lines, max_bad_share):
    report = run((HEADER + "".join(line + "\n" for line in lines)).encode(), fitted, max_bad_share)
    if report is not None:
        assert report["rows_in"] == len(lines)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(1, 200), st.integers(0, 7), st.sampled_from(ODD)), min_size=1, max_size=15))
def test_odd_values_in_real_lines_are_quarantined_not_fatal(fitted, october, edits):
    """Real October lines with a few values replaced: fewer than the refusal floor, so never refused."""
    lines = list(october)
    for number, column, value in edits:
        fields = lines[number].rstrip("\n").split(",")
        if len(fields) == len(schema.RAW_COLUMNS):  # descriptions with commas are quoted: leave them
            fields[column] = value
            lines[number] = ",".join(fields) + "\n"
    report = run("".join(lines).encode(), fitted, max_bad_share=0.05)
    assert report is not None and report["rows_in"] == 200
