"""The local AWS stack: moto in server mode behind a dispatcher for our own handlers and faults.

Unsigned requests to a deployed API Gateway stage (`localaws.apigateway.addressing`) are served by
the REST API data plane. Requests for operations in the registry (ECS tasks, SageMaker training
jobs and endpoints, the Feature Store runtime, Personalize, Lambda's Invoke) and requests with an
armed fault are answered here; everything
else goes to moto untouched, with moto's own models corrected where they differ from AWS. The same
object runs in a thread for tests (`with LocalAwsStack() as stack:`) or as the `python -m localaws`
process for the demo and the Airflow topology.
"""

from __future__ import annotations

import io
import json
import logging
import os
import selectors
import shutil
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug import serving as werkzeug_serving
from werkzeug.serving import make_server
from werkzeug.wsgi import get_input_stream

from localaws import tls as tls_module
from localaws.apigateway import responses as execute_api
from localaws.cloudwatch.evaluator import AlarmEvaluator
from localaws.credentials import CredentialsEndpoint, RoleSession
from localaws.faults import ApiFault, FaultInjector, JobFault, ModelFault
from localaws.iam.enforcement import Enforcer
from localaws.iam.principals import is_root_key
from localaws.registry import BACKENDS, HANDLERS, install_patches
from localaws.wire import ApiCall, AwsError, Signature, identify

CONTROL_PREFIX = "/_localaws/"
logger = logging.getLogger(__name__)


class _NothingLeftToRead:
    """The selector werkzeug's post-response drain gets on a kept-alive connection: the body was
    read in full before the application ran, so whatever is on the socket now is the next request."""

    def register(self, *args: Any, **kwargs: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list:
        return []

    def close(self) -> None:
        pass


class _WerkzeugSelectors:
    """Stands in for the `selectors` module inside `werkzeug.serving`, whose only use is that drain."""

    def __getattr__(self, name: str) -> Any:
        return getattr(selectors, name)

    @staticmethod
    def DefaultSelector() -> Any:
        return _NothingLeftToRead() if getattr(_keep_alive, "drained", False) else selectors.DefaultSelector()


_keep_alive = threading.local()
werkzeug_serving.selectors = _WerkzeugSelectors()


class KeepAliveRequestHandler(MotoRequestHandler):
    """Keeps HTTP/1.1 connections open between requests, as AWS endpoints do.

    Werkzeug's server closes every connection, because after a response it drains the socket of a
    body the application left unread, which would swallow the next request. This handler reads the
    whole body before the application runs, skips that drain, and drops werkzeug's
    `Connection: close`. Without it every SDK call paid a new TCP and TLS handshake (measured: 44 ms
    a request over TLS against 13 ms over plain HTTP, most of it the handshake). Idle connections
    close after `timeout` seconds.
    """

    timeout = 120

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if environ.pop("wsgi.input_terminated", False):  # chunked: werkzeug's DechunkedInput reads it
            body = environ["wsgi.input"].read()
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        self.body_drained = _keep_alive.drained = True
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and getattr(self, "body_drained", False):
            return
        super().send_header(keyword, value)

    def handle_one_request(self) -> None:
        self.body_drained = _keep_alive.drained = False
        try:
            super().handle_one_request()
        finally:
            _keep_alive.drained = False

    def log_error(self, format: str, *args: Any) -> None:
        if args and isinstance(args[0], TimeoutError):
            return  # an idle keep-alive connection timing out is not an error
        super().log_error(format, *args)


class LocalAwsStack:
    """`tls=True` (the default) serves HTTPS with a certificate from a CA made at start
    (`ca_bundle`), as AWS endpoints do; `tls=False` serves plain HTTP, for tests that need a request
    without TLS (a bucket policy's `aws:SecureTransport` deny). `tls_hostnames`: more names the
    certificate covers (a compose service name), besides localhost, 127.0.0.1 and ::1.
    `enforce_iam`: IAM evaluated on every request (default on; `LOCALAWS_IAM=off` turns it off)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_dir: Path | None = None,
        tls_hostnames: tuple[str, ...] = (),
        enforce_iam: bool | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.certificates = tls_module.create(tls_dir, (*tls_hostnames, host)) if tls else None
        self._own_tls_dir = tls_dir is None
        self.credentials = CredentialsEndpoint()
        self.faults = FaultInjector()
        # IAM is enforced as on AWS unless LOCALAWS_IAM=off (a debugging escape hatch only).
        if enforce_iam is None:
            enforce_iam = os.environ.get("LOCALAWS_IAM", "on").lower() not in ("off", "0", "false")
        self.enforce_iam = enforce_iam
        self.iam = Enforcer()
        install_patches()
        self.alarms = AlarmEvaluator()  # CloudWatch evaluates alarms on its own schedule
        self.handlers = HANDLERS
        self.handled_services = {service for service, _ in self.handlers}
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._backends: dict[tuple[str, str, str], Any] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        """Path of the CA certificate clients must trust (None without TLS)."""
        return str(self.certificates.ca_bundle) if self.certificates is not None else None

    @property
    def verify(self) -> str | bool:
        """boto3's `verify=` for this stack."""
        return self.ca_bundle if self.ca_bundle is not None else True

    def _make_server(self):
        server = make_server(
            self.host,
            self.port,
            self,
            threaded=True,
            request_handler=KeepAliveRequestHandler,
            ssl_context=self.certificates.server_context() if self.certificates is not None else None,
        )
        self.port = server.server_port
        return server

    def start(self) -> LocalAwsStack:
        self._server = self._make_server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="localaws", daemon=True)
        self._thread.start()
        self.alarms.start()
        return self

    def serve_forever(self) -> None:
        self._server = self._make_server()
        self.alarms.start()
        try:
            self._server.serve_forever()
        finally:
            self.alarms.stop()

    def stop(self) -> None:
        self.alarms.stop()
        self._shutdown_backends()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.credentials.stop()
        if self.certificates is not None and self._own_tls_dir:
            shutil.rmtree(self.certificates.directory, ignore_errors=True)

    def _shutdown_backends(self) -> None:
        with self._lock:
            backends = list(self._backends.values())
        for backend in backends:
            backend.shutdown()

    def __enter__(self) -> LocalAwsStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what handlers use -------------------------------------------------------------------
    def client(self, service: str, region: str = "us-east-1"):
        """A boto3 client on this stack as the account's root: how handlers read and write the
        state moto keeps, and how the harness provisions what a platform team does by hand. Work
        AWS does as a job's role goes through `role_session(...).client(...)` instead."""
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    region_name=region,
                    endpoint_url=self.url,
                    verify=self.verify,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(retries={"mode": "standard", "max_attempts": 3}),
                )
            return self._clients[key]

    def role_session(
        self, role_arn: str, service: str, session_name: str, source_arn: str | None = None
    ) -> RoleSession:
        """`role_arn`'s session for code `service` runs, for `source_arn` (trust policy honoured)."""
        return RoleSession(self, role_arn, service, session_name, source_arn)

    def backend(self, service: str, account_id: str, region: str):
        key = (service, account_id, region)
        with self._lock:
            if key not in self._backends:
                self._backends[key] = BACKENDS[service](self, account_id, region)
            return self._backends[key]

    def reset(self) -> None:
        """Forget all state: moto's and ours (running jobs are stopped first)."""
        self._shutdown_backends()
        self._backends.clear()
        self.faults.clear()
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    # --- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])
        target = execute_api.target_of(environ)
        if target is not None:  # a client calling a deployed REST API stage (localaws/apigateway)
            status, pairs, body = execute_api.answer(self, environ, target)
            start_response(f"{status} {HTTPStatus(status).phrase}", [*pairs, ("Content-Length", str(len(body)))])
            return [body]
        signature = Signature.from_environ(environ)
        if signature is None:
            return self._moto(environ, start_response)
        checked = self.enforce_iam and not is_root_key(signature.access_key)
        handled = set(signature.services) & (self.handled_services | self.faults.armed_services())
        if not (checked or handled):  # the stack's own credentials on a moto operation: the fast path
            return self._moto(environ, start_response)
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        call = identify(environ, signature)
        environ["wsgi.input"] = io.BytesIO(body)
        if call is None:
            if checked:
                return _respond(start_response, 403, {}, _unidentified(signature))
            return self._moto(environ, start_response)
        call.stack = self
        if checked:
            token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or _query_value(environ, "X-Amz-Security-Token")
            try:
                denial = self.iam.authorize(call, signature.access_key, token, environ)
            except Exception as err:  # a bug of ours must not let the request through unchecked
                logger.exception("IAM evaluation of %s:%s failed", call.service, call.operation)
                denial = AwsError("InternalFailure", f"localaws could not evaluate IAM for this request: {err!r}", 500)
            environ["wsgi.input"] = io.BytesIO(body)
            if denial is not None:
                _, headers, payload = call.respond(denial)
                # moto's serializers take the status from the model's error shape; these codes have none
                return _respond(start_response, denial.http_status_code, headers, payload)
        if handled:
            answer = self._answer(call)
            if answer is not None:
                status, headers, payload = answer
                return _respond(start_response, status, headers, payload)
        return self._moto(environ, start_response)

    def iam_exercised(self) -> list[dict[str, Any]]:
        """Every IAM decision so far: principal (role ARN for a session), action, resource, decision, count."""
        return self.iam.exercised.snapshot()

    def _answer(self, call: ApiCall) -> tuple[int, dict[str, str], bytes] | None:
        fault = self.faults.take_api_fault(call.service, call.operation)
        if fault is not None:
            return call.respond(AwsError(fault.error_code, fault.message, fault.status))
        handler = self.handlers.get((call.service, call.operation))
        if handler is None:
            return None
        try:
            return call.respond(handler(call))
        except AwsError as err:
            return call.respond(err)

    def _control(self, environ, start_response, route: str):
        method = environ["REQUEST_METHOD"]
        body = get_input_stream(environ).read()
        try:
            payload = json.loads(body) if body else {}
            if route == "health":
                result: Any = {"status": "running", "handled": sorted(f"{s}:{o}" for s, o in self.handlers)}
            elif route == "faults" and method == "POST":
                kind = payload.pop("kind", "api")
                fault_class = {"api": ApiFault, "job": JobFault, "model": ModelFault}[kind]
                self.faults.arm(fault_class(**payload))
                result = self.faults.snapshot()
            elif route == "faults" and method == "DELETE":
                self.faults.clear()
                result = self.faults.snapshot()
            elif route == "faults":
                result = self.faults.snapshot()
            elif route == "iam/exercised" and method == "DELETE":
                self.iam.exercised.clear()
                result = []
            elif route == "iam/exercised":
                result = self.iam_exercised()
            elif route == "reset" and method == "POST":
                self.reset()
                result = {"status": "reset"}
            else:
                return _respond(start_response, 404, {}, json.dumps({"error": f"no route {route}"}).encode())
        except (TypeError, ValueError, KeyError) as err:
            return _respond(start_response, 400, {}, json.dumps({"error": str(err)}).encode())
        return _respond(start_response, 200, {}, json.dumps(result).encode())


def _query_value(environ: dict[str, Any], name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[0] if values else None


def _unidentified(signature: Signature) -> bytes:
    return json.dumps(
        {
            "__type": "AccessDeniedException",
            "message": f"localaws has no IAM mapping for this {signature.signing_name} request: not identified",
        }
    ).encode()


def _respond(start_response, status: int, headers: dict[str, str], body: bytes):
    headers = {"Content-Type": "application/json", **headers, "Content-Length": str(len(body))}
    start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
    return [body]
