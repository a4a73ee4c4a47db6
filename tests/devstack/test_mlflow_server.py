"""The local MLflow server keeps runs on disk and proxies artifacts into the local stack's S3."""

from __future__ import annotations

import os
import time

import pytest

from devstack.mlflow_server import ARTIFACT_BUCKET, MlflowServer, ensure_artifact_bucket
from tests.conftest import free_port

pytestmark = pytest.mark.slow


def test_runs_metrics_and_artifacts_land_where_expected(stack, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    ensure_artifact_bucket(stack.client("s3"))
    with MlflowServer(tmp_path / "mlflow", stack.url, port=free_port(), ca_bundle=stack.ca_bundle) as server:
        group = os.getpgid(server._proc.pid)
        client = MlflowClient(tracking_uri=server.url)
        experiment = client.create_experiment("localaws-test")
        run = client.create_run(experiment, tags={"dag_run_id": "manual__test"})
        client.log_param(run.info.run_id, "factors", "32")
        client.log_metric(run.info.run_id, "ndcg_at_10", 0.125)
        (tmp_path / "report.json").write_text('{"ok": true}')
        client.log_artifact(run.info.run_id, str(tmp_path / "report.json"))
        client.set_terminated(run.info.run_id)

        stored = client.get_run(run.info.run_id)
        assert stored.data.metrics == {"ndcg_at_10": 0.125}
        assert stored.data.params == {"factors": "32"}
        assert stored.info.artifact_uri.startswith("mlflow-artifacts:/")
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["report.json"]
        mlflow.set_tracking_uri(server.url)
        downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl"))
        assert (tmp_path / "dl" / "report.json").read_text() == '{"ok": true}'
        assert downloaded

    deadline = time.monotonic() + 5  # stopped: killed orphans are reaped by init shortly after
    while alive := [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _group_of(p) == group]:
        assert time.monotonic() < deadline, f"processes of the MLflow server left running: {alive}"
        time.sleep(0.2)

    keys = [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"]]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/report.json") for k in keys), keys
    assert (tmp_path / "mlflow" / "mlflow.db").stat().st_size > 0


def test_a_taken_port_is_refused_before_anything_starts(stack, tmp_path):
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        server = MlflowServer(tmp_path / "m", stack.url, port=other.getsockname()[1])
        with pytest.raises(RuntimeError, match="the port is in use"):
            server.start(timeout=5)
    assert not (tmp_path / "m").exists()


def test_a_server_that_dies_says_why(stack, tmp_path):
    server = MlflowServer(tmp_path / "m", stack.url, port=free_port())
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mlflow.db").write_text("not a database")
    with pytest.raises(RuntimeError, match="MLflow server exited with"):
        server.start(timeout=90)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
