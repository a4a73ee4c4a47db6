"""The local MLflow tracking server: runs and registry in SQLite on local disk, artifacts in the
local stack's S3 (proxied by the server, as on a managed tracking server). The server itself
speaks HTTP on loopback; its S3 client reaches the stack over HTTPS, trusting `ca_bundle`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ARTIFACT_BUCKET = "mlflow-artifacts"


class MlflowServer:
    def __init__(
        self,
        state_dir: Path,
        aws_url: str,
        host: str = "127.0.0.1",
        port: int = 5001,
        ca_bundle: str | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.aws_url = aws_url
        self.ca_bundle = ca_bundle
        self.host = host
        self.port = port
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's pid, which is also its process group's id (its workers are in it)."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 120.0) -> MlflowServer:
        """Launch and wait until healthy; stopped again if the wait fails or is interrupted."""
        self.launch()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> MlflowServer:
        """Start the server process (its own process group) without waiting for it.

        Fails at once if the port is taken: a health check would otherwise pass on the other server."""
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as err:
                raise RuntimeError(f"cannot start MLflow on {self.url}: the port is in use ({err})") from err
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MLFLOW_S3_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            # MLflow 3's job runner (GenAI evaluation and prompt jobs, unused here) starts four Huey
            # consumers that poll all the time: a third of a core on this 2-core machine.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.state_dir / 'mlflow.db'}",
            "--artifacts-destination",
            f"s3://{ARTIFACT_BUCKET}/",
            "--serve-artifacts",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        log = (self.state_dir / "server.log").open("ab")
        self._proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                with contextlib.suppress(ProcessLookupError):  # its workers outlive it otherwise
                    os.killpg(self._proc.pid, signal.SIGKILL)
                tail = (self.state_dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"MLflow server exited with {self._proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(
            f"MLflow server at {self.url} not healthy after {timeout:.0f}s (see {self.state_dir / 'server.log'})"
        )

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left: its job consumers
        (huey workers) ignore SIGTERM while idle and would outlive the server."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_artifact_bucket(s3) -> None:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.put_bucket_encryption(
        Bucket=ARTIFACT_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
