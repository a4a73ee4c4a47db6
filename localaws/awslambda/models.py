"""Lambda functions that run: their zip in worker processes, with their role, environment and limits.

moto keeps the functions (CreateFunction, GetFunction, permissions, the CloudFormation resource) and
a copy of each function's code, taken from `Code.S3Bucket/S3Key` when the function was created or
updated, as Lambda does. This backend runs that code: an invocation takes an idle execution
environment of the function or starts one (a cold start) -

- the zip extracted once per code digest, and refused before anything runs when the runtime the
  function names cannot run it: `python3.X` against the minimum Python vermin finds in the code,
  the same static check the job images get (`include/images.py`);
- `runtime.py` started with the function's environment variables, Lambda's reserved ones
  (`AWS_LAMBDA_FUNCTION_NAME`, `_HANDLER`, `LAMBDA_TASK_ROOT`, ...), `AWS_ENDPOINT_URL` pointing at
  the stack and its role's credentials (`localaws.iam.sessions.assume_role_as_service`, principal
  `lambda.amazonaws.com`) - never the stack's own;
- its output shipped to the function's log group (`/aws/lambda/<name>`, or LoggingConfig's), stream
  `YYYY/MM/DD/[$LATEST]<id>`, with the role's credentials as Lambda does: a role that may not
  write there loses the logs, not the invocation.

The function's Timeout ends an invocation that runs longer (the environment is killed, the error is
`Sandbox.Timedout`), its MemorySize is checked against the worker's peak RSS, and
ReservedConcurrentExecutions caps its environments (past it: TooManyRequestsException). Each
invocation publishes Lambda's `Invocations`, `Errors`, `Throttles` and `Duration` metrics
(namespace `AWS/Lambda`, dimension FunctionName), which the template's alarms read.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3

from localaws.backends import AccountBackend
from localaws.iam.sessions import assume_role_as_service
from localaws.jobs import CloudWatchLogSink, JobProcess, job_environment
from localaws.wire import AwsError

RUNTIME_SCRIPT = Path(__file__).with_name("runtime.py")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
SESSION_SECONDS = 3000  # environments are recycled before their role session (1 h) expires
_PYTHON_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class InvocationSink(CloudWatchLogSink):
    """The environment's log stream, which also keeps the current invocation's lines (LogType=Tail)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []
        self.seen = threading.Condition()

    def write(self, line: str) -> None:
        with self.seen:
            self.lines.append(line.rstrip("\n"))
            self.seen.notify_all()
        if self.client is not None:
            super().write(line)

    def flush(self) -> None:
        if self.client is not None:
            try:
                super().flush()
            except Exception as err:
                print(f"localaws lambda: logs of {self.group} dropped: {err}", file=sys.stderr)
                self.client = None

    def wait_for(self, marker: str, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        with self.seen:
            while not any(marker in line for line in self.lines) and time.monotonic() < deadline:
                self.seen.wait(0.05)


@dataclass
class Environment:
    """One execution environment: a worker process serving one invocation at a time."""

    function_arn: str
    fingerprint: str
    port: int
    sink: InvocationSink
    started: float = field(default_factory=time.monotonic)
    process: JobProcess | None = None
    exit_code: int | None = None
    busy: bool = False

    def exited(self, code: int) -> None:
        self.exit_code = code

    @property
    def alive(self) -> bool:
        return self.exit_code is None and time.monotonic() - self.started < SESSION_SECONDS

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_seconds=2)


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    function_error: str | None = None  # "Unhandled" as Lambda reports it
    log_tail: str = ""
    duration_ms: float = 0.0


class LambdaBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.environments: dict[str, list[Environment]] = {}
        self._root = Path(tempfile.mkdtemp(prefix="localaws-lambda-"))

    # --- the function as moto keeps it -------------------------------------------------------
    def function(self, name: str, qualifier: str | None = None):
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[self.account_id][self.region]
        try:
            return backend.get_function(name, qualifier)
        except Exception as err:
            arn = name if name.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
            raise AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404) from err

    @staticmethod
    def _fingerprint(fn) -> str:
        config = [fn.code_sha_256, fn.handler, fn.run_time, fn.role, fn.memory_size, fn.timeout, fn.environment_vars]
        return json.dumps(config, sort_keys=True, default=str)

    def code_dir(self, fn) -> Path:
        """The function's zip, extracted once per digest (moto's copy, or `Code.S3Bucket/S3Key`)."""
        target = self._root / "code" / fn.code_sha_256.replace("/", "_")
        if target.is_dir():
            return target
        body = getattr(fn, "code_bytes", b"")
        if not body and "S3Bucket" in fn.code:
            s3 = self.stack.client("s3", self.region)
            body = s3.get_object(Bucket=fn.code["S3Bucket"], Key=fn.code["S3Key"])["Body"].read()
        if not body:
            raise AwsError("InvalidParameterValueException", f"function {fn.function_name} has no code package", 400)
        staging = Path(tempfile.mkdtemp(dir=self._root))
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(target)
        except OSError:  # another invocation extracted it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def runtime_refusal(self, fn, code_dir: Path) -> str | None:
        """Why the function's runtime cannot run its code (None: it can) - vermin's minimum Python."""
        from include.images import JobImage, code_findings

        if getattr(fn, "package_type", "Zip") != "Zip":
            return f"the local stack runs Zip packages only, not {fn.package_type}"
        match = _PYTHON_RUNTIME.match(fn.run_time or "")
        if match is None:
            return f"the local stack runs the Python runtimes only, not {fn.run_time!r}"
        python = (int(match.group(1)), int(match.group(2)))
        spec = JobImage(f"lambda runtime {fn.run_time}", fn.function_name, python, "", (".",), ())
        findings = code_findings(spec, root=code_dir)
        return findings[0].reason.replace("the image runs", "the runtime runs") if findings else None

    # --- environments ------------------------------------------------------------------------
    def _acquire(self, fn) -> Environment:
        fingerprint = self._fingerprint(fn)
        stale: list[Environment] = []
        with self._lock:
            pool = self.environments.setdefault(fn.function_arn, [])
            for env in list(pool):
                if env.fingerprint != fingerprint or not env.alive:
                    if not env.busy:
                        pool.remove(env)
                        stale.append(env)
                    continue
                if not env.busy:
                    env.busy = True
                    break
            else:
                env = None
                busy = sum(1 for e in pool if e.busy)
                if fn.reserved_concurrency is not None and busy >= int(fn.reserved_concurrency):
                    self._publish(fn.function_name, {"Throttles": 1})
                    raise AwsError("TooManyRequestsException", "Rate Exceeded.", 429)
        for old in stale:
            old.stop()
        if env is not None:
            return env
        env = self._start(fn, fingerprint)
        with self._lock:
            self.environments.setdefault(fn.function_arn, []).append(env)
        return env

    def _start(self, fn, fingerprint: str) -> Environment:
        code_dir = self.code_dir(fn)
        refusal = self.runtime_refusal(fn, code_dir)
        if refusal is not None:
            raise AwsError(
                "InvalidRuntimeException",
                f"The runtime {fn.run_time} cannot run function {fn.function_name}: {refusal}",
            )
        credentials = assume_role_as_service(self.stack, fn.role, "lambda.amazonaws.com", fn.function_name)
        logging_config = getattr(fn, "logging_config", None) or {}
        group = logging_config.get("LogGroup") or f"/aws/lambda/{fn.function_name}"
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        logs = boto3.client(
            "logs",
            region_name=self.region,
            endpoint_url=self.stack.url,
            verify=self.stack.verify,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )
        sink = InvocationSink(logs, group, stream)
        try:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
        except Exception:  # noqa: S110 - no logs:CreateLogGroup: the group must exist already
            pass
        try:
            sink.open()
        except Exception as err:
            print(f"localaws lambda: {fn.function_name} cannot write {group}/{stream}: {err}", file=sys.stderr)
            sink.client = None
        env = Environment(fn.function_arn, fingerprint, _free_port(), sink)
        variables = {
            # Lambda's variables are strings; moto's CloudFormation passes a Number parameter's Ref as int
            **{name: str(value) for name, value in fn.environment_vars.items()},
            **credentials,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": fn.handler or "",
            "LOCALAWS_FUNCTION_ARN": fn.function_arn,
            "TZ": ":UTC",
        }
        environ = job_environment(self.stack.url, self.region, variables, ca_bundle=self.stack.ca_bundle)
        environ.pop("PYTHONPATH", None)  # the function brings its own code, as in Lambda
        argv = [sys.executable, str(RUNTIME_SCRIPT), "--port", str(env.port)]
        env.process = JobProcess(argv, environ, sink, env.exited, cwd=code_dir)
        env.process.start()
        deadline = time.monotonic() + INIT_TIMEOUT_S
        while time.monotonic() < deadline:
            if env.exit_code is not None:
                break
            try:
                conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    env.busy = True
                    return env
            except OSError:
                time.sleep(0.05)
        env.stop()
        sink.flush()
        raise AwsError(
            "ServiceException",
            f"The function {fn.function_name} could not initialise within {INIT_TIMEOUT_S:.0f}s",
            500,
        )

    def _release(self, env: Environment) -> None:
        with self._lock:
            env.busy = False
            if not env.alive:
                pool = self.environments.get(env.function_arn, [])
                if env in pool:
                    pool.remove(env)

    # --- invoke ------------------------------------------------------------------------------
    def invoke(self, name: str, payload: bytes, qualifier: str | None = None, tail: bool = False) -> Invocation:
        fn = self.function(name, qualifier)
        env = self._acquire(fn)
        request_id = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000) + int(fn.timeout) * 1000
        with env.sink.seen:
            env.sink.lines = []
        started = time.perf_counter()
        function_error = None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=float(fn.timeout))
            conn.request(
                "POST",
                "/invoke",
                body=payload or b"{}",
                headers={"Lambda-Runtime-Aws-Request-Id": request_id, "Lambda-Runtime-Deadline-Ms": str(deadline_ms)},
            )
            response = conn.getresponse()
            body = response.read()
            function_error = response.getheader("X-Function-Error")
            env.sink.wait_for(f"REPORT RequestId: {request_id}")
        except TimeoutError:
            body, function_error = self._timed_out(fn, env, request_id, started), "Unhandled"
        except OSError as err:  # the environment died mid-invocation
            env.exit_code = env.exit_code if env.exit_code is not None else -1
            message = f"RequestId: {request_id} Error: Runtime exited without providing a reason ({err})"
            body, function_error = (
                json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode(),
                ("Unhandled"),
            )
        finally:
            self._release(env)
        duration = (time.perf_counter() - started) * 1000
        env.sink.flush()
        self._publish(fn.function_name, {"Invocations": 1, "Errors": float(function_error is not None)}, duration)
        tail_text = ""
        if tail:
            with env.sink.seen:
                tail_text = "\n".join(env.sink.lines) + "\n"
            tail_text = base64.b64encode(tail_text.encode()[-4096:]).decode()
        return Invocation(request_id, body, function_error, tail_text, duration)

    def _timed_out(self, fn, env: Environment, request_id: str, started: float) -> bytes:
        """Lambda's timeout: the environment is killed; its stream gets the timeout and END/REPORT."""
        env.stop()
        env.exit_code = env.exit_code if env.exit_code is not None else -9
        duration = (time.perf_counter() - started) * 1000
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for line in (
            f"{stamp} {request_id} Task timed out after {float(fn.timeout):.2f} seconds",
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {int(duration)} ms"
            f"\tMemory Size: {fn.memory_size} MB\tStatus: timeout",
        ):
            env.sink.write(line)
        message = f"RequestId: {request_id} Error: Task timed out after {float(fn.timeout):.2f} seconds"
        return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()

    def _publish(self, function_name: str, counts: dict[str, float], duration_ms: float | None = None) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.utils import utcnow

        dims = [{"Name": "FunctionName", "Value": function_name}]
        now = utcnow()
        data = [
            {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": "Count", "Timestamp": now}
            for name, value in counts.items()
        ]
        if duration_ms is not None:
            duration = {"MetricName": "Duration", "Dimensions": dims, "Value": duration_ms, "Unit": "Milliseconds"}
            data.append({**duration, "Timestamp": now})
        cloudwatch_backends[self.account_id][self.region].put_metric_data("AWS/Lambda", data)

    def invoke_in_background(self, name: str, payload: bytes, qualifier: str | None = None) -> None:
        """InvocationType=Event: Lambda queues it and answers 202 at once."""
        self.function(name, qualifier)

        def run() -> None:
            with contextlib.suppress(AwsError):
                self.invoke(name, payload, qualifier)

        threading.Thread(target=run, daemon=True).start()

    def shutdown(self) -> None:
        with self._lock:
            envs = [e for pool in self.environments.values() for e in pool]
            self.environments = {}
        for env in envs:
            env.stop()
        shutil.rmtree(self._root, ignore_errors=True)
