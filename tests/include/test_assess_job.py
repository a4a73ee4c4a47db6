"""The assessment's Processing entry point on small constructed frames (no AWS): the report, the
drift table and chart it writes, the champion's metrics, and the reason it leaves when it fails."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.training import assess_job, runproc
from include.training.artifact import ScoringModel
from include.training.package import build_sourcedir

ITEMS = [f"i{n}" for n in range(20)]
USERS = [f"u{n}" for n in range(30)]


def frame(seed: int, *, price_scale: float = 1.0, country: str = "United Kingdom", items=ITEMS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2000
    return pd.DataFrame(
        {
            "user_id": rng.choice(USERS, n),
            "item_id": rng.choice(items, n),
            "timestamp": 1_309_478_400 + rng.integers(0, 30 * 86_400, n),  # July 2011
            "quantity": rng.integers(1, 12, n),
            "unit_price": rng.uniform(0.5, 5.0, n) * price_scale,
            "country": country,
        }
    ).assign(event_value=lambda f: f.quantity * f.unit_price)


def write(directory, frames: dict[str, pd.DataFrame]) -> None:
    for relative, data in frames.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data.to_parquet(path)


def champion_tar(directory) -> None:
    """A popularity champion in the project's artifact format, as `model.tar.gz`."""
    model_dir = directory / "unpacked"
    popularity = np.arange(len(ITEMS), 0, -1).astype(np.float32)
    ScoringModel(
        kind="popularity",
        users=USERS,
        items=ITEMS,
        item_factors=np.zeros((len(ITEMS), 0), np.float32),
        item_bias=popularity,
        popularity=popularity,
        user_factors=np.zeros((len(USERS), 0), np.float32),
    ).save(model_dir)
    with tarfile.open(directory / "model.tar.gz", "w:gz") as archive:
        for path in model_dir.iterdir():
            archive.add(path, arcname=path.name)


@pytest.fixture
def job_dirs(tmp_path):
    dirs = {name: tmp_path / name for name in ("reference", "current", "model", "output")}
    write(
        dirs["reference"],
        {"month=2011-07/interactions.parquet": frame(1), "month=2011-08/interactions.parquet": frame(2)},
    )
    dirs["model"].mkdir()
    champion_tar(dirs["model"])
    return dirs


def test_same_distribution_no_drift_and_the_champion_scored(job_dirs):
    write(job_dirs["current"], {"interactions.parquet": frame(3)})
    code = assess_job.main(
        [
            "--reference", str(job_dirs["reference"]),
            "--current", str(job_dirs["current"]),
            "--model", str(job_dirs["model"]),
            "--output", str(job_dirs["output"]),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads((job_dirs["output"] / "assessment.json").read_text())
    assert report["reference_rows"] == 4000 and report["current_rows"] == 2000
    assert not report["drift"]["dataset_drift"]
    assert {f["feature"] for f in report["drift"]["features"]} == {
        "event_value", "quantity", "unit_price", "hour", "weekday", "country", "item",
    }  # fmt: skip
    metrics = report["champion_metrics_now"]
    assert 0 < metrics["ndcg_at_10"] <= 1
    with (job_dirs["output"] / "drift.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["feature", "measure", "value", "threshold", "drifted"]
    assert {r["feature"]: r["drifted"] for r in rows}["country"] == "False"
    png = (job_dirs["output"] / "drift.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_a_shifted_month_drifts_on_the_shifted_features(job_dirs):
    shifted = frame(4, price_scale=4.0, country="France", items=[f"new{n}" for n in range(20)])
    write(job_dirs["current"], {"interactions.parquet": shifted})
    assert assess_job.main(
        ["--reference", str(job_dirs["reference"]), "--current", str(job_dirs["current"]),
         "--output", str(job_dirs["output"]), "--drift-share", "0.3"]
    ) == 0  # fmt: skip
    report = json.loads((job_dirs["output"] / "assessment.json").read_text())
    drifted = {f["feature"] for f in report["drift"]["features"] if f["drifted"]}
    assert {"unit_price", "event_value", "country", "item"} <= drifted
    assert "quantity" not in drifted and "weekday" not in drifted
    assert report["drift"]["dataset_drift"] and report["champion_metrics_now"] is None
    with (job_dirs["output"] / "drift.csv").open() as fh:
        table = {r["feature"]: r for r in csv.DictReader(fh)}
    assert table["country"]["measure"] == "jensenshannon" and table["country"]["drifted"] == "True"
    assert float(table["country"]["value"]) == pytest.approx(1.0)


def test_psi_is_the_numeric_measure_when_asked(job_dirs):
    write(job_dirs["current"], {"interactions.parquet": frame(5)})
    args = ["--reference", str(job_dirs["reference"]), "--current", str(job_dirs["current"])]
    assert assess_job.main([*args, "--output", str(job_dirs["output"]), "--drift-method", "psi"]) == 0
    report = json.loads((job_dirs["output"] / "assessment.json").read_text())
    assert {f["method"] for f in report["drift"]["features"]} == {"psi", "jensenshannon"}


def test_an_empty_window_fails_with_the_reason_in_the_exit_message(job_dirs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    write(job_dirs["current"], {"interactions.parquet": frame(3)})
    message = tmp_path / "opt-ml-output" / "message"
    code = assess_job.main(
        ["--reference", str(empty), "--current", str(job_dirs["current"]),
         "--output", str(job_dirs["output"]), "--exit-message", str(message)]
    )  # fmt: skip
    assert code == 1
    assert message.read_text() == f"InputError: no .parquet files under {empty} (the champion's training window)"
    assert not (job_dirs["output"] / "assessment.json").exists()


def test_a_missing_model_archive_is_named(job_dirs, tmp_path):
    write(job_dirs["current"], {"interactions.parquet": frame(3)})
    nothing = tmp_path / "nomodel"
    nothing.mkdir()
    message = tmp_path / "message"
    args = ["--reference", str(job_dirs["reference"]), "--current", str(job_dirs["current"])]
    args += ["--model", str(nothing), "--output", str(job_dirs["output"]), "--exit-message", str(message)]
    assert assess_job.main(args) == 1
    assert "no model.tar.gz under" in message.read_text()


def test_runproc_runs_the_module_from_the_source_directory_and_installs_nothing_present(job_dirs, tmp_path):
    """The container's bootstrap: the real sourcedir.tar.gz, every pin already installed here."""
    body, _ = build_sourcedir()
    archive = tmp_path / "code" / "sourcedir.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(body)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = tar.getnames()
        pins = tar.extractfile("requirements-processing.txt").read().decode().split()
    assert "include/training/assess_job.py" in names and pins[0].startswith("matplotlib==")
    assert runproc.missing_pins(pins) == []
    assert runproc.missing_pins(["matplotlib==0.0.1", "# comment", "", "no-such-package-xyz==1.0"]) == [
        "matplotlib==0.0.1",
        "no-such-package-xyz==1.0",
    ]
    write(job_dirs["current"], {"interactions.parquet": frame(3)})
    entry = tmp_path / "entrypoint" / "runproc.py"  # alone, as the job's entrypoint input holds it
    entry.parent.mkdir()
    entry.write_bytes(Path(runproc.__file__).read_bytes())
    out = subprocess.run(
        [sys.executable, str(entry), str(archive), "include.training.assess_job",
         "--reference", str(job_dirs["reference"]), "--current", str(job_dirs["current"]),
         "--output", str(job_dirs["output"])],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "installing" not in out.stdout and "features drifted" in out.stdout
    assert (job_dirs["output"] / "assessment.json").is_file()
