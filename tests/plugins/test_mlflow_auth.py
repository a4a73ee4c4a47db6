"""MlflowHook keeps a connection's login to its own client: basic auth reaches the server, the
worker's environment never holds it (except, restored, around a fluent-API block)."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlops.hooks.mlflow_tracking import PASSWORD_VAR, USERNAME_VAR, MlflowHook


@pytest.fixture
def server():
    """A tiny HTTP server answering every MLflow REST call with 'not found', recording headers."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            body = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nothing here"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()


@pytest.fixture
def connection(server, monkeypatch):
    url, _ = server
    monkeypatch.delenv(USERNAME_VAR, raising=False)
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_AUTH_TEST",
        json.dumps({"conn_type": "http", "host": url, "login": "alice", "password": "s3cret"}),
    )
    return "mlflow_auth_test"


def test_basic_auth_reaches_the_server_and_no_env_var_is_set(server, connection):
    _, seen = server
    hook = MlflowHook(connection)
    assert hook.client.get_experiment_by_name("anything") is None  # a tracking-store call
    assert hook.version_by_alias("model", "champion") is None  # a registry-store call
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert len(seen) == 2 and {s["authorization"] for s in seen} == {expected}, seen
    assert USERNAME_VAR not in os.environ and PASSWORD_VAR not in os.environ
    creds = hook.host_creds()
    assert (creds.username, creds.password) == ("alice", "s3cret")


def test_fluent_credentials_are_lent_for_one_block_and_restored(connection, monkeypatch):
    hook = MlflowHook(connection)
    with hook.fluent_credentials():
        assert (os.environ[USERNAME_VAR], os.environ[PASSWORD_VAR]) == ("alice", "s3cret")
    assert USERNAME_VAR not in os.environ and PASSWORD_VAR not in os.environ
    monkeypatch.setenv(USERNAME_VAR, "someone-else")
    with hook.fluent_credentials():
        assert os.environ[USERNAME_VAR] == "alice"
    assert os.environ[USERNAME_VAR] == "someone-else" and PASSWORD_VAR not in os.environ


def test_without_a_login_nothing_is_sent_or_set(server, monkeypatch):
    url, seen = server
    monkeypatch.delenv(USERNAME_VAR, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_OPEN_TEST", json.dumps({"conn_type": "http", "host": url}))
    hook = MlflowHook("mlflow_open_test")
    assert hook.client.get_experiment_by_name("anything") is None
    with hook.fluent_credentials():
        assert USERNAME_VAR not in os.environ
    assert seen[-1]["authorization"] is None
