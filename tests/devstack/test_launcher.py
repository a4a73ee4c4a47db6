"""`python -m devstack` stops promptly and completely on SIGINT or SIGTERM, whenever they arrive.

Each test runs the launcher as a process (moto keeps its state per process) with a real local
MLflow server, whose process group must be gone once the launcher has exited.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

STOP_WITHIN_S = 20  # MLflow's server gets up to 15 s to stop before its group is killed
MLFLOW_READY_S = 120  # ~15 s on an idle machine; its imports alone take a minute on a loaded one


class Launcher:
    def __init__(self, state_dir: Path, *flags: str) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--port", str(self.port), "--state-dir", str(state_dir), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {prefix!r} line in {timeout:.0f} s: {self.lines}"
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the launcher exited before {prefix!r}: {self.lines}"
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def mlflow_pid(self) -> int | None:
        started = [line for line in self.lines if line.startswith("MLflow tracking server starting (pid ")]
        return int(started[0].rsplit(" ", 1)[-1].rstrip(")")) if started else None

    def stop(self, sig: int) -> float:
        """Send `sig`, wait for the exit; the seconds it took."""
        sent = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(STOP_WITHIN_S + 10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return time.monotonic() - sent

    def kill(self) -> None:
        self.process.kill()
        pid = self.mlflow_pid()
        if pid is not None:
            with _suppress_lookup():
                os.killpg(pid, signal.SIGKILL)


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is ProcessLookupError


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def assert_nothing_left(launcher: Launcher) -> None:
    pid = launcher.mlflow_pid()
    deadline = time.monotonic() + 5  # the group's last members may still be being reaped
    while pid is not None and group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid is None or not group_alive(pid), f"MLflow's process group {pid} outlived the launcher"
    assert processes_mentioning(str(launcher.state_dir)) == []


@pytest.fixture
def launcher_factory(tmp_path):
    launchers: list[Launcher] = []

    def launch(*flags: str) -> Launcher:
        launchers.append(Launcher(tmp_path / "state", *flags))
        return launchers[-1]

    yield launch
    for launcher in launchers:
        if launcher.process.poll() is None:
            launcher.kill()
        launcher.process.wait(10)


def test_without_mlflow_writes_the_airflow_env_and_stops_on_sigterm(launcher_factory):
    launcher = launcher_factory("--no-mlflow")
    launcher.wait_for("Airflow environment: source ", 60)
    env_file = launcher.state_dir / "airflow.env"
    exported = env_file.read_text()
    assert f'"endpoint_url": "https://127.0.0.1:{launcher.port}"' in exported
    assert f"AWS_CA_BUNDLE={launcher.state_dir / 'tls' / 'ca.pem'}" in exported
    assert launcher.stop(signal.SIGTERM) < 5
    assert launcher.process.returncode == 0, launcher.lines
    assert launcher.lines[0] == f"local AWS stack on https://127.0.0.1:{launcher.port}"


def test_sigterm_once_serving_stops_mlflow_and_the_stack(launcher_factory):
    launcher = launcher_factory("--mlflow-port", str(free_port()))
    launcher.wait_for("Airflow environment: source ", MLFLOW_READY_S)
    assert group_alive(launcher.mlflow_pid())
    assert launcher.stop(signal.SIGTERM) < STOP_WITHIN_S
    assert launcher.process.returncode == 0, launcher.lines
    assert_nothing_left(launcher)


def test_sigterm_as_the_stack_comes_up_leaves_no_mlflow(launcher_factory):
    launcher = launcher_factory("--mlflow-port", str(free_port()))
    launcher.wait_for("local AWS stack on ", 30)
    assert launcher.stop(signal.SIGTERM) < STOP_WITHIN_S
    assert launcher.process.returncode == 0, launcher.lines
    assert_nothing_left(launcher)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_mlflow_starts_stops_it(launcher_factory, sig):
    launcher = launcher_factory("--mlflow-port", str(free_port()))
    launcher.wait_for("MLflow tracking server starting (pid ", 30)
    assert launcher.stop(sig) < STOP_WITHIN_S
    assert launcher.process.returncode == 0, launcher.lines
    assert not any(line.startswith("MLflow tracking server on ") for line in launcher.lines)
    assert_nothing_left(launcher)
