"""The production topology as processes on loopback, the way docker-compose.yaml wires it.

PostgreSQL is the metadata database, Redis the Celery broker; the Airflow API server, scheduler,
DAG processor, triggerer and a Celery worker run as separate processes against them, with the local
AWS stack and MLflow. `monthly_preprocessing` is triggered through the REST API for a real month
that has not landed yet: its wait must be deferred to the triggerer (the task instance shows
`deferred`, never `running`, while it waits - no worker slot), and once the month lands the run
must succeed. The UI's grid of that run is saved by headless Chromium as a test artefact.

Without PostgreSQL, Redis or Chromium the test skips and says why; `.ci/run` sets
MLOPS_REQUIRE_TOPOLOGY=1, which turns that skip into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from devstack.airflow_env import airflow_environment
from devstack.datasets import month_file
from include.jobs import raw_ingest
from tests.conftest import PROJECT_ROOT, free_port

pytestmark = pytest.mark.slow
REQUIRED = os.environ.get("MLOPS_REQUIRE_TOPOLOGY") == "1"
MONTH = "2011-05"  # a month no other test lands: the run must wait for it
ARTEFACTS = Path(os.environ.get("MLOPS_TEST_ARTEFACTS", PROJECT_ROOT / ".local" / "test-artefacts"))
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"MLOPS_REQUIRE_TOPOLOGY=1 but {reason}")
    pytest.skip(reason)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def database():
    """A fresh PostgreSQL database for Airflow's metadata, dropped afterwards."""
    if not _listening(5432):
        unavailable("no PostgreSQL on 127.0.0.1:5432")
    if not _listening(6379):
        unavailable("no Redis on 127.0.0.1:6379")
    import psycopg2

    name = f"mlops_topology_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield f"postgres@127.0.0.1:5432/{name}"
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}
    except OSError:  # not listening (yet)
        return 0, {}


def _post(url: str, body: dict | None, method: str = "POST") -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def topology(database, stack, platform, deployer, mlflow_server, tmp_path_factory):
    from cryptography.fernet import Fernet

    home = tmp_path_factory.mktemp("topology-airflow")
    port = free_port()
    queue = f"mlops-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        **airflow_environment(
            home, stack.url, mlflow_server.url, ca_bundle=stack.ca_bundle, deployer_role_arn=deployer
        ),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/11",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{database}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # nothing runs on its schedule here: the test unpauses the DAG it drives
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    logs = home / "processes"
    logs.mkdir()
    commands = {
        "api-server": [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        "scheduler": [AIRFLOW, "scheduler"],
        "dag-processor": [AIRFLOW, "dag-processor"],
        "triggerer": [AIRFLOW, "triggerer"],
        "worker": [AIRFLOW, "celery", "worker", "--concurrency", "2", "--queues", queue],
    }
    processes = {}
    for name, argv in commands.items():
        with (logs / f"{name}.log").open("w") as log:
            processes[name] = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home, start_new_session=True
            )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while _get(f"{url}/api/v2/monitor/health")[0] != 200:
            dead = {n: p.returncode for n, p in processes.items() if p.poll() is not None}
            assert not dead and time.monotonic() < deadline, f"topology did not come up: {dead}"
            time.sleep(2)
        yield {"url": url, "logs": logs, "processes": processes}
    finally:  # each component with the processes it forked (Celery's pool, the API server's workers)
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _tail(logs: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-25:]) for p in sorted(logs.glob("*.log"))
    )


def test_a_rest_triggered_run_defers_its_wait_and_succeeds_on_celery(topology, stack, platform):
    url, dag = topology["url"], "monthly_preprocessing"
    s3 = stack.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=platform["InputBucket"], Prefix=f"raw/online-retail/month={MONTH}/"
    ):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=platform["InputBucket"], Key=item["Key"])

    deadline = time.monotonic() + 180
    while _get(f"{url}/api/v2/dags/{dag}")[0] != 200:
        assert time.monotonic() < deadline, "the DAG processor never parsed the DAG\n" + _tail(topology["logs"])
        time.sleep(3)
    _post(f"{url}/api/v2/dags/{dag}", {"is_paused": False}, method="PATCH")
    run = _post(
        f"{url}/api/v2/dags/{dag}/dagRuns", {"logical_date": None, "conf": {"month": MONTH, "raw_check_seconds": 5}}
    )
    # unpausing also schedules the latest interval (max_active_runs=1 would queue ours behind it)
    time.sleep(5)
    for other in _get(f"{url}/api/v2/dags/{dag}/dagRuns")[1].get("dag_runs", []):
        if other["dag_run_id"] != run["dag_run_id"]:
            _post(f"{url}/api/v2/dags/{dag}/dagRuns/{other['dag_run_id']}", {"state": "failed"}, method="PATCH")
    run_id = run["dag_run_id"]
    instances = f"{url}/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances"

    def states() -> dict[str, str]:
        return {ti["task_id"]: ti["state"] for ti in _get(instances)[1].get("task_instances", [])}

    seen: list[dict] = []
    deadline = time.monotonic() + 300
    while states().get("wait_for_raw_month") != "deferred":
        seen.append(states())
        assert time.monotonic() < deadline, f"the wait was never deferred: {seen[-3:]}\n" + _tail(topology["logs"])
        time.sleep(2)
    # deferred: handed to the triggerer, holding no worker slot; it stays so while the month is absent
    for _ in range(3):
        time.sleep(3)
        assert states()["wait_for_raw_month"] == "deferred"

    s3.put_object(Bucket="partner-drop", Key=f"topology/{MONTH}.csv.gz", Body=month_file(MONTH).read_bytes())
    raw_ingest.run(
        {
            "SOURCE_URI": f"s3://partner-drop/topology/{MONTH}.csv.gz",
            "TARGET_PREFIX": f"s3://{platform['InputBucket']}/raw/online-retail/month={MONTH}/",
            "MONTH": MONTH,
        },
        s3,
    )
    deadline = time.monotonic() + 600
    while True:
        state = _get(f"{url}/api/v2/dags/{dag}/dagRuns/{run_id}")[1].get("state")
        if state in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"run still {state}: {states()}\n" + _tail(topology["logs"])
        time.sleep(5)
    assert state == "success", f"{states()}\n" + _tail(topology["logs"])
    final = states()
    assert final["wait_for_raw_month"] == "success" and final["publish_user_features"] == "success", final

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("no chromium for the UI screenshot (make browser installs Debian's)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "monthly_preprocessing-grid.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1600,1000",
            "--virtual-time-budget=15000",
            f"--screenshot={shot}",
            f"{url}/dags/{dag}/runs/{run_id}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000, "the screenshot is (nearly) empty"
