"""Role credentials for the code the stack runs, and for the stack's own work on its behalf.

On AWS, an ECS task never sees long-lived keys: the ECS agent serves its task role's session on a
loopback credentials endpoint (`AWS_CONTAINER_CREDENTIALS_*`), and the SDK fetches it again before
it expires, so a job may outlive one session (at most the role's `MaxSessionDuration`). SageMaker
does the same for training jobs and model servers with their execution role. Here:

- `RoleSession` is one role's session for one service principal, assumed through
  `localaws.iam.sessions.assume_role_as_service` (STS AssumeRole, the trust policy honoured) and
  assumed again when less than `REFRESH_MARGIN` of it is left;
- `CredentialsEndpoint` serves sessions the way the ECS agent does: plain HTTP on 127.0.0.1 (the
  SDKs accept only loopback or link-local hosts over HTTP), one path and bearer token per job, in
  botocore's container-credentials format. A job's environment gets
  `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`, never a key;
- `RoleSession.client()` is a boto3 client on the stack with refreshing credentials: what the
  stack uses for the work AWS does with a job's role (the awslogs driver with the ECS execution
  role, SageMaker reading input and writing the model with the execution role).
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from localaws.iam.sessions import assume_role_as_service

# STS's default DurationSeconds (assume_role_as_service does not ask for more); a session is
# assumed again once less than REFRESH_MARGIN of it is left - more than botocore's 15-minute
# advisory refresh window, so the SDK in the job never receives a session about to expire.
SESSION_SECONDS = 3600
REFRESH_MARGIN = datetime.timedelta(minutes=20)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class RoleSession:
    """`role_arn`'s session for code `service` runs (e.g. `ecs-tasks.amazonaws.com`)."""

    def __init__(
        self, stack: Any, role_arn: str, service: str, session_name: str, source_arn: str | None = None
    ) -> None:
        self.stack = stack
        self.role_arn = role_arn
        self.service = service
        self.session_name = session_name
        self.source_arn = source_arn  # the task, job or endpoint the session is for (aws:SourceArn)
        self._lock = threading.Lock()
        self._current: dict[str, str] | None = None
        self._expires = _now()

    def current(self) -> dict[str, str]:
        """The session as the container-credentials endpoint returns it (re-assumed when due).
        Raises the STS error (e.g. AccessDenied by the trust policy) when the role cannot be assumed."""
        with self._lock:
            if self._current is None or self._expires - _now() < REFRESH_MARGIN:
                issued = _now()
                env = assume_role_as_service(
                    self.stack, self.role_arn, self.service, self.session_name, source_arn=self.source_arn
                )
                self._expires = issued + datetime.timedelta(seconds=SESSION_SECONDS)
                self._current = {
                    "AccessKeyId": env["AWS_ACCESS_KEY_ID"],
                    "SecretAccessKey": env["AWS_SECRET_ACCESS_KEY"],
                    "Token": env["AWS_SESSION_TOKEN"],
                    "Expiration": self._expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "RoleArn": self.role_arn,
                }
            return dict(self._current)

    def _metadata(self) -> dict[str, str]:
        c = self.current()
        return {
            "access_key": c["AccessKeyId"],
            "secret_key": c["SecretAccessKey"],
            "token": c["Token"],
            "expiry_time": c["Expiration"],
        }

    def client(self, service_name: str, region: str):
        """A boto3 client on the stack acting as this role (credentials refreshed before expiry)."""
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=self._metadata(), refresh_using=self._metadata, method="localaws-role-session"
        )
        core = botocore.session.Session()
        core._credentials = credentials  # botocore's documented way has no public setter for refreshables
        session = boto3.Session(botocore_session=core, region_name=region)
        return session.client(
            service_name,
            endpoint_url=self.stack.url,
            verify=self.stack.verify,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )


class CredentialsEndpoint:
    """The ECS agent's credentials endpoint, for every job the stack runs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sessions: dict[str, tuple[str, RoleSession]] = {}
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                with endpoint._lock:
                    entry = endpoint._sessions.get(self.path.rsplit("/", 1)[-1])
                if entry is None or not secrets.compare_digest(entry[0], self.headers.get("Authorization", "")):
                    return self._send(404 if entry is None else 403, {"message": "no such credentials"})
                try:
                    return self._send(200, entry[1].current())
                except Exception as err:  # the SDK shows this to the job: why it has no credentials
                    return self._send(500, {"code": "AssumeRoleFailed", "message": str(err)})

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="localaws-credentials", daemon=True)
        self._thread.start()

    def register(self, session: RoleSession) -> tuple[str, dict[str, str]]:
        """Serve `session`; returns (id, the environment variables the job's SDK reads)."""
        ident, token = secrets.token_hex(16), secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[ident] = (token, session)
        return ident, {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{self.host}:{self.port}/v2/credentials/{ident}",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        }

    def unregister(self, ident: str) -> None:
        """The job has ended: its credentials are no longer served."""
        with self._lock:
            self._sessions.pop(ident, None)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
