"""Run a job's container entry point as a local process, its output shipped to CloudWatch Logs.

ECS tasks, SageMaker training jobs and endpoint model servers share this: an image is looked up
in `images.toml` (the local stand-in for pulling it), the process gets the container's environment
plus `AWS_ENDPOINT_URL` pointing back at the local stack (`AWS_CA_BUNDLE`: its CA), and every line
it prints becomes a log event in the group and stream the job definition names. Credentials are
the job's role session, served as the ECS agent does (`localaws.credentials`), or none at all:
never the stack's own keys.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGES_FILE = Path(__file__).with_name("images.toml")
FLUSH_SECONDS = 0.5
MAX_BATCH = 1000
# Variables the job inherits from the stack's own environment; everything else comes from the
# job definition, as in a container.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class UnknownImage(LookupError):
    pass


def repository_of(image: str) -> str:
    """`123.dkr.ecr.r.amazonaws.com/team/app:tag` (or `@sha256:...`) -> `team/app`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # drop the registry host
    return name


def strip_environment(repository: str) -> str:
    """`mlops-preprocessing-prod` -> `mlops-preprocessing`: each environment has its own repository
    of the same image (infra/preprocessing.yaml names them `<project>-<image>-<env>`)."""
    for environment in ("dev", "staging", "prod"):
        if repository.endswith(f"-{environment}"):
            return repository.removesuffix(f"-{environment}")
    return repository


def load_image_table(path: Path = IMAGES_FILE) -> dict[str, list[str]]:
    with path.open("rb") as fh:
        return tomllib.load(fh)["images"]


def entrypoint_for(image: str, table: dict[str, list[str]] | None = None) -> list[str]:
    table = load_image_table() if table is None else table
    repository = repository_of(image)
    if repository not in table:  # an environment's repository (`mlops-preprocessing-prod`) runs its image
        repository = strip_environment(repository)
    if repository not in table:
        raise UnknownImage(
            f"image {image!r} (repository {repository!r}) has no local entry point in {IMAGES_FILE.name}"
        )
    return [sys.executable if part == "{python}" else part for part in table[repository]]


def image_refusal(image: str, code_dir: Path | None = None) -> str | None:
    """Why the image cannot run this job's code (None: it can): the image's Python against the
    minimum vermin finds in the code (`include/images.py`). `code_dir`: the code as the job will run
    it (an extracted source directory); by default what the image's Dockerfile copies.

    Only the static part runs here - about half a second per distinct code, then cached - so a demo
    does not wait on the package index; whether the pins install for the image's Python and platform
    needs the index and is checked by `make test` (tests/deploy/test_images.py) for every job image.
    """
    from include.images import runtime_refusal

    if code_dir is None:
        return runtime_refusal(image)
    return runtime_refusal(image, ["."], root=code_dir)


def container_argv(image: str, entry_point: Sequence[str] | None, command: Sequence[str] | None) -> list[str]:
    """Docker's rule: an explicit entryPoint replaces the image's; command is appended as CMD."""
    argv = list(entry_point) if entry_point else entrypoint_for(image)
    return argv + list(command or [])


def job_environment(
    endpoint_url: str,
    region: str,
    variables: dict[str, str],
    credentials: dict[str, str] | None = None,
    ca_bundle: str | None = None,
) -> dict[str, str]:
    """The container's environment. `credentials`: the variables that make its SDK fetch its
    role's session (`CredentialsEndpoint.register`); None - a task without a task role - leaves it
    without credentials, as on AWS."""
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # no shared config or credentials file of the machine's user either
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    if ca_bundle:
        env["AWS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"] = ca_bundle
    env.update(credentials or {})
    env.update(variables)
    return env


class CloudWatchLogSink:
    """Batches lines into PutLogEvents calls on the local stack's Logs API."""

    def __init__(self, logs_client, group: str, stream: str, create_group: bool = False) -> None:
        self.client = logs_client
        self.group = group
        self.stream = stream
        self.create_group = create_group
        self._pending: list[dict] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Fails like the awslogs driver does when the group is missing and may not be created."""
        if self.create_group:
            with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
                self.client.create_log_group(logGroupName=self.group)
        self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def write(self, line: str) -> None:
        message = line.rstrip("\n")
        if not message:  # PutLogEvents refuses an empty message; the awslogs driver skips blank lines
            return
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": message})
            full = len(self._pending) >= MAX_BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self.client.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)


@dataclass
class JobProcess:
    """One running job; `on_exit(exit_code)` is called once when it ends."""

    argv: list[str]
    env: dict[str, str]
    sink: CloudWatchLogSink | None
    on_exit: Callable[[int], None]
    cwd: Path = PROJECT_ROOT
    # called once the process has ended, before on_exit: its role's credentials stop being served
    release: Callable[[], None] | None = None
    _proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def pid(self) -> int | None:
        """The process's id while it has one (instance metrics sample it)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        threading.Thread(target=self._pump, name=f"job-{self._proc.pid}", daemon=True).start()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        last_flush = time.monotonic()
        for line in self._proc.stdout:
            if self.sink is None:
                continue
            try:
                self.sink.write(line)
                if time.monotonic() - last_flush > FLUSH_SECONDS:
                    self.sink.flush()
                    last_flush = time.monotonic()
            except Exception as err:  # keep draining the pipe: the job must not block on its output
                print(f"localaws: log lines of pid {self._proc.pid} were not shipped: {err}", file=sys.stderr)
        code = self._proc.wait()
        try:
            if self.sink is not None:
                self.sink.flush()
        except Exception as err:  # the job has ended whatever its last log lines became
            print(f"localaws: the last log lines of pid {self._proc.pid} were not shipped: {err}", file=sys.stderr)
        finally:
            if self.release is not None:
                self.release()
            # A signal death is reported the way Docker does: 128 + signal number.
            self.on_exit(128 - code if code < 0 else code)

    def stop(self, grace_seconds: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after the grace period, as ECS's stopTimeout does."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
