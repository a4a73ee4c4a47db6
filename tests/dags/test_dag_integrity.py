"""DAG integrity: every DAG file imports cleanly, cheaply, and follows the project's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
# Modules a DAG file may use inside tasks, never at parse time: the scheduler parses every file
# every few minutes, and these take seconds and hundreds of MB to import.
HEAVY_MODULES = ("pandas", "numpy", "pyarrow", "mlflow", "sagemaker", "sklearn", "implicit", "scipy", "include")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dag_files_exist():
    assert DAG_FILES, "dags/ holds no DAG files"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dagbag.import_errors.items())


def test_every_file_defines_a_dag_named_after_it(dagbag):
    by_file = {Path(dag.fileloc).stem: dag_id for dag_id, dag in dagbag.dags.items()}
    assert set(by_file) == {p.stem for p in DAG_FILES}
    for stem, dag_id in by_file.items():
        assert dag_id == stem, f"dags/{stem}.py defines {dag_id!r}; name the file after its DAG"


def test_dags_document_ownership_tags_and_purpose(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, f"{dag_id} needs a doc_md that says what it does"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"


def test_retries_and_timeouts_are_deliberate(dagbag):
    from airflow.sdk.bases.sensor import BaseSensorOperator

    for dag_id, dag in dagbag.dags.items():
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} default_args must set retries >= 1"
        assert dag.max_active_runs is not None
        for task in dag.tasks:
            if isinstance(task, BaseSensorOperator):
                # set on purpose: not Airflow's 7-day default, and bounded (an A/B test may run weeks)
                assert task.timeout and task.timeout != 7 * 86400 and task.timeout <= 60 * 86400, (
                    f"{dag_id}.{task.task_id} needs a deliberate sensor timeout"
                )
                assert getattr(task, "deferrable", False) or task.mode == "reschedule", (
                    f"{dag_id}.{task.task_id} would hold a worker slot while it waits"
                )
            else:
                assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no execution_timeout"


def test_aws_waits_do_not_hold_worker_slots(dagbag):
    """Operators that wait on AWS must defer (the provider's `deferrable` flag) in our DAGs."""
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            module = type(task).__module__
            if hasattr(task, "deferrable") and ("aws" in module or module.startswith("mlops.")):
                assert task.deferrable, f"{dag_id}.{task.task_id} ({task.task_type}) is not deferrable"


def test_every_dag_is_part_of_the_demo_lifecycle(dagbag):
    from devstack.demo import LIFECYCLE

    # infra_teardown deletes the environment: an operation run on purpose, never part of the demo
    assert set(dagbag.dag_ids) == {step.dag_id for step in LIFECYCLE} | {"infra_teardown"}


def import_in_fresh_interpreter(dag_file: Path, before: str = "", after: str = "") -> str:
    """Run `before`, import the DAG file as the DAG processor would, run `after`; return stdout."""
    probe = (
        f"{before}\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(dag_file)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"{after}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_import_is_light(dag_file):
    """Import each DAG file in a fresh interpreter and look at what it dragged in."""
    out = import_in_fresh_interpreter(dag_file, after="import json, sys; print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES)
    assert not heavy, f"{dag_file.name} imports at parse time: {heavy[:10]}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_makes_no_network_calls_at_parse_time(dag_file):
    """Parsing with every socket connection refused must still succeed."""
    refuse_network = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('network call at DAG parse time')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
    )
    import_in_fresh_interpreter(dag_file, before=refuse_network)


def test_no_plugin_module_shadows_an_installed_package():
    """Airflow's plugin loader imports every file under plugins/ as a top-level module named after
    the file: `plugins/mlops/hooks/mlflow.py` became `sys.modules["mlflow"]` and broke MLflow."""
    from importlib.metadata import packages_distributions

    installed = set(packages_distributions())
    shadowing = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "plugins").rglob("*.py")
        if path.stem in installed
    )
    assert shadowing == []
