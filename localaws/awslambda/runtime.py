"""One Lambda execution environment: the Python runtime's bootstrap, as a local process.

The Lambda backend starts one per concurrent execution. As the managed Python runtime does, it puts
the function's code (`LAMBDA_TASK_ROOT`, the extracted zip) first on `sys.path`, resolves `_HANDLER`
(`path/to/module.function`, `/` read as `.`) once at init, configures the root logger with Lambda's
format, and then runs one invocation at a time: `POST /invoke` with the event as body answers the
handler's JSON result, or Lambda's error document (`errorMessage`, `errorType`, `stackTrace`) with
`X-Function-Error: Unhandled`. Each invocation prints the START / END / REPORT lines Lambda writes to
the function's log stream; everything printed goes there too (the backend ships stdout).

Init errors are answered as Lambda does, on every invocation: `Runtime.MalformedHandlerName`,
`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`. A result that is not JSON is
`Runtime.MarshalError`. The timeout is the backend's to enforce (it kills this process, as Lambda
does); the memory size is checked here after each invocation against the process's peak RSS: past
it, the invocation fails with `Runtime.ExitError` and the environment ends (exit 137, "killed").

Stdlib only and run as a script: the function brings everything else (boto3 is part of the runtime).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, HTTPServer

_BUILTIN = set(sys.builtin_module_names)


class LambdaContext:
    """The `context` argument: the attributes the Python runtime documents."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = env["LOCALAWS_FUNCTION_ARN"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": stack or []}


def load_handler(spec: str):
    """The handler function, or Lambda's init error document."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as err:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {err}")
    dotted = module_name.replace("/", ".")
    if dotted.split(".")[0] in _BUILTIN:
        return None, _error(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {dotted.split('.')[0]} as a handler module"
        )
    try:
        module = importlib.import_module(dotted)
    except ImportError as err:
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}")
    except Exception as err:  # the module's own init code failed
        stack = traceback.format_list(traceback.extract_tb(err.__traceback__))
        return None, _error(type(err).__name__, str(err), stack)
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler, None


def peak_memory_mb() -> int:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux keeps that across execve, so it
    would report the (much larger) stack process this worker was forked from."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class Invocations(BaseHTTPRequestHandler):
    handler = None
    init_error: dict | None = None
    request_ids = _RequestIdFilter()
    memory_mb = 128

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes, function_error: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if function_error:
            self.send_header("X-Function-Error", "Unhandled")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        self._send(200 if self.path == "/ping" else 404, b"{}")

    def do_POST(self):
        if self.path != "/invoke":
            self._send(404, b"{}")
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request_id = self.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline_ms = int(self.headers["Lambda-Runtime-Deadline-Ms"])
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        print(f"START RequestId: {request_id} Version: {version}", flush=True)
        started = time.perf_counter()
        self.request_ids.request_id = request_id
        error = self.init_error
        result = b"null"
        if error is None:
            try:
                event = json.loads(raw) if raw else {}
                answer = type(self).handler(event, LambdaContext(request_id, deadline_ms))
                try:
                    result = json.dumps(answer).encode()
                except (TypeError, ValueError) as err:
                    error = _error("Runtime.MarshalError", f"Unable to marshal response: {err}")
            except Exception as err:
                stack = traceback.format_list(traceback.extract_tb(err.__traceback__))
                error = _error(type(err).__name__, str(err), stack)
        if error is not None:
            error = {**error, "requestId": request_id}
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", flush=True)
        sys.stdout.flush()
        duration = (time.perf_counter() - started) * 1000
        used_mb = peak_memory_mb()
        killed = used_mb > self.memory_mb
        if killed:
            message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
            error = _error("Runtime.ExitError", message)
            error["requestId"] = request_id
        print(f"END RequestId: {request_id}", flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms"
            f"\tBilled Duration: {max(1, int(duration + 0.999))} ms"
            f"\tMemory Size: {self.memory_mb} MB\tMax Memory Used: {used_mb} MB",
            flush=True,
        )
        if error is not None:
            self._send(200, json.dumps(error).encode(), function_error=True)
        else:
            self._send(200, result)
        if killed:
            threading.Timer(0.05, os._exit, args=(137,)).start()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    root = logging.getLogger()
    stream = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    stream.setFormatter(formatter)
    stream.addFilter(Invocations.request_ids)
    root.addHandler(stream)
    Invocations.memory_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    handler, Invocations.init_error = load_handler(os.environ["_HANDLER"])
    Invocations.handler = staticmethod(handler) if handler is not None else None
    if Invocations.init_error is not None:
        print(f"[ERROR] {Invocations.init_error['errorType']}: {Invocations.init_error['errorMessage']}", flush=True)
    server = HTTPServer(("127.0.0.1", args.port), Invocations)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
