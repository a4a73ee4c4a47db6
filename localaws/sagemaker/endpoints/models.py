"""SageMaker real-time endpoints that really serve: one local model server per production variant.

moto keeps models and endpoint configs (CreateModel, CreateEndpointConfig and their Describe/
Delete); this backend owns the endpoints. CreateEndpoint and UpdateEndpoint download each
variant's `ModelDataUrl` from the local S3, start `model_server.py` on it (the script-mode
serving contract) and switch traffic only when every new variant answers `/ping` - the blue/green
update SageMaker does. A failed update rolls back: the endpoint stays InService on its previous
config with a FailureReason; a failed creation ends Failed. UpdateEndpointWeightsAndCapacities
re-routes traffic without restarting anything.

InvokeEndpoint routes by the variants' current weights (or `TargetVariant`), forwards the body to
the variant's server and publishes SageMaker's per-variant metrics (`Invocations`, `ModelLatency`,
`OverheadLatency`, `Invocation4XXErrors`, `Invocation5XXErrors`, namespace `AWS/SageMaker`) to the
local CloudWatch, which the guardrail alarms read. Server output goes to CloudWatch Logs,
`/aws/sagemaker/Endpoints/<endpoint>`, stream `<variant>/<instance id>`.

Each model server runs as its model's `ExecutionRoleArn` (assumed as `sagemaker.amazonaws.com`):
the artifact download, its log stream and the server process's own calls (credentials endpoint).
"""

from __future__ import annotations

import http.client
import io
import random
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localaws.backends import AccountBackend
from localaws.jobs import CloudWatchLogSink, JobProcess, image_refusal, job_environment
from localaws.sagemaker.endpoints.utilisation import UtilisationSampler
from localaws.sagemaker.listing import listed
from localaws.wire import AwsError

SERVER_SCRIPT = Path(__file__).with_name("model_server.py")
LOG_GROUP = "/aws/sagemaker/Endpoints"
READY_TIMEOUT_S = 120.0
INVOKE_TIMEOUT_S = 60.0
WEIGHT_SHIFT_S = 0.5  # how long a weights update stays "Updating"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _error_text(err: Exception) -> str:
    error = getattr(err, "response", {}).get("Error", {})
    return f"{error['Code']}: {error.get('Message', '')}" if error.get("Code") else str(err)


class DeployError(RuntimeError):
    """Why a variant could not start: becomes the endpoint's FailureReason."""


@dataclass
class ModelServer:
    """One instance of one variant: a model server process on a loopback port."""

    model_name: str
    variant: str
    port: int
    workdir: Path
    process: JobProcess | None = None
    exit_code: int | None = None
    release: Any = None  # stops serving the server's role credentials

    def exited(self, code: int) -> None:
        self.exit_code = code

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code is not None:
                raise DeployError(
                    f"The primary container for production variant {self.variant} did not pass the ping health "
                    f"check (the model server exited with code {self.exit_code}). Please check CloudWatch logs "
                    "for this endpoint."
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise DeployError(
            f"The primary container for production variant {self.variant} did not pass the ping health check "
            f"within {timeout:.0f}s. Please check CloudWatch logs for this endpoint."
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_seconds=5)
        if self.release is not None:
            self.release()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Variant:
    name: str
    model_name: str
    weight: float
    instance_type: str
    instance_count: int
    server: ModelServer

    def describe(self) -> dict[str, Any]:
        return {
            "VariantName": self.name,
            "DeployedImages": [],
            "CurrentWeight": self.weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instance_count,
            "DesiredInstanceCount": self.instance_count,
        }


@dataclass
class Endpoint:
    name: str
    arn: str
    config_name: str
    status: str = "Creating"
    failure_reason: str | None = None
    variants: dict[str, Variant] = field(default_factory=dict)
    created: datetime = field(default_factory=_now)
    modified: datetime = field(default_factory=_now)
    tags: list[dict[str, str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "ProductionVariants": [v.describe() for v in self.variants.values()],
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
        }
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "EndpointStatus": self.status,
        }


class EndpointBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.endpoints: dict[str, Endpoint] = {}
        self._random = random.Random()
        self._root = Path(tempfile.mkdtemp(prefix="localaws-endpoints-"))
        self.utilisation = UtilisationSampler(self)

    # --- control plane -----------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:endpoint/{name.lower()}"

    def create(self, params: dict[str, Any]) -> Endpoint:
        name = params["EndpointName"]
        if not _NAME.match(name):
            raise AwsError("ValidationException", f"Endpoint name {name!r} must match {_NAME.pattern}", 400)
        config = self._config(params["EndpointConfigName"])
        with self._lock:
            if name in self.endpoints:
                raise AwsError("ValidationException", f'Cannot create already existing endpoint "{self.arn(name)}".')
            endpoint = Endpoint(name, self.arn(name), config["EndpointConfigName"], tags=params.get("Tags", []))
            self.endpoints[name] = endpoint
        threading.Thread(target=self._deploy, args=(endpoint, config), daemon=True).start()
        self.utilisation.start()
        return endpoint

    def update(self, params: dict[str, Any]) -> Endpoint:
        endpoint = self.describe(params["EndpointName"])
        config = self._config(params["EndpointConfigName"])
        self._check_autoscaled(endpoint, config)
        with self._lock:
            if endpoint.status != "InService":
                raise AwsError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.status}).',
                )
            endpoint.status, endpoint.modified = "Updating", _now()
        threading.Thread(target=self._deploy, args=(endpoint, config), daemon=True).start()
        return endpoint

    def _check_autoscaled(self, endpoint: Endpoint, config: dict[str, Any]) -> None:
        """SageMaker refuses an update that removes a variant registered with Application Auto Scaling
        or changes its instance type: the variant must be deregistered first."""
        from localaws.applicationautoscaling.responses import registered

        wanted = {v["VariantName"]: v for v in config["ProductionVariants"]}
        blocked = sorted(
            name
            for name in registered(self.account_id, self.region, endpoint.name)
            if name in endpoint.variants
            and (name not in wanted or wanted[name].get("InstanceType") != endpoint.variants[name].instance_type)
        )
        if blocked:
            raise AwsError(
                "ValidationException",
                f'The variant(s) "{blocked}" must be deregistered as scalable targets with AWS Application Auto '
                "Scaling before they can be removed or have their instance type updated.",
            )

    def update_weights(self, params: dict[str, Any]) -> Endpoint:
        endpoint = self.describe(params["EndpointName"])
        desired = params["DesiredWeightsAndCapacities"]
        with self._lock:
            if endpoint.status != "InService":
                raise AwsError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.status}).',
                )
            names = [d["VariantName"] for d in desired]
            if len(set(names)) != len(names):
                raise AwsError("ValidationException", "The variant names in the request must be unique.")
            missing = [n for n in names if n not in endpoint.variants]
            if missing:
                raise AwsError(
                    "ValidationException",
                    f'The variant name(s) "{",".join(missing)}" is/are not present within endpoint configuration '
                    f'"{endpoint.config_name}".',
                )
            weights = {v.name: v.weight for v in endpoint.variants.values()}
            weights.update({d["VariantName"]: d["DesiredWeight"] for d in desired if "DesiredWeight" in d})
            if sum(weights.values()) <= 0:
                raise AwsError("ValidationException", "The sum of the variants' weights must be greater than 0.")
            endpoint.status, endpoint.modified = "Updating", _now()

        def shift() -> None:
            time.sleep(WEIGHT_SHIFT_S)
            with self._lock:
                for item in desired:
                    variant = endpoint.variants[item["VariantName"]]
                    variant.weight = float(item.get("DesiredWeight", variant.weight))
                    variant.instance_count = int(item.get("DesiredInstanceCount", variant.instance_count))
                endpoint.status, endpoint.modified = "InService", _now()

        threading.Thread(target=shift, daemon=True).start()
        return endpoint

    def describe(self, name: str) -> Endpoint:
        with self._lock:
            endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise AwsError("ValidationException", f'Could not find endpoint "{self.arn(name)}".')
        return endpoint

    def list(self, params: dict[str, Any]) -> list[Endpoint]:
        with self._lock:
            found = list(self.endpoints.values())
        return listed(found, params)

    def delete(self, name: str) -> None:
        endpoint = self.describe(name)
        with self._lock:
            del self.endpoints[name]
        for variant in endpoint.variants.values():
            variant.server.stop()

    def shutdown(self) -> None:
        self.utilisation.stop()
        with self._lock:
            endpoints, self.endpoints = list(self.endpoints.values()), {}
        for endpoint in endpoints:
            for variant in endpoint.variants.values():
                variant.server.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    # --- deployment --------------------------------------------------------------------------
    def _config(self, name: str) -> dict[str, Any]:
        sagemaker = self.stack.client("sagemaker", self.region)
        try:
            return sagemaker.describe_endpoint_config(EndpointConfigName=name)
        except sagemaker.exceptions.ClientError as err:
            raise AwsError("ValidationException", f"Could not find endpoint configuration {name!r}.") from err

    def _deploy(self, endpoint: Endpoint, config: dict[str, Any]) -> None:
        """Start what the config needs (reusing identical running variants), then switch atomically."""
        initial = not endpoint.variants
        started: list[ModelServer] = []
        new: dict[str, Variant] = {}
        try:
            for spec in config["ProductionVariants"]:
                running = endpoint.variants.get(spec["VariantName"])
                if running is not None and running.model_name == spec["ModelName"] and running.server.exit_code is None:
                    server = running.server
                else:
                    server = self._start_server(endpoint.name, spec)
                    started.append(server)
                new[spec["VariantName"]] = Variant(
                    name=spec["VariantName"],
                    model_name=spec["ModelName"],
                    weight=float(spec.get("InitialVariantWeight", 1.0)),
                    instance_type=spec.get("InstanceType", ""),
                    instance_count=int(spec.get("InitialInstanceCount", 1)),
                    server=server,
                )
            for server in started:
                server.wait_ready(READY_TIMEOUT_S)
        except (DeployError, AwsError, OSError, ValueError, tarfile.TarError) as err:
            for server in started:
                server.stop()
            reason = err.message if isinstance(err, AwsError) else str(err)
            with self._lock:
                endpoint.failure_reason = reason
                endpoint.status = "Failed" if initial else "InService"  # an update rolls back
                endpoint.modified = _now()
            return
        with self._lock:
            old, endpoint.variants = endpoint.variants, new
            endpoint.config_name = config["EndpointConfigName"]
            endpoint.status, endpoint.failure_reason, endpoint.modified = "InService", None, _now()
        kept = {id(v.server) for v in new.values()}
        for variant in old.values():
            if id(variant.server) not in kept:
                variant.server.stop()

    def _start_server(self, endpoint_name: str, spec: dict[str, Any]) -> ModelServer:
        sagemaker = self.stack.client("sagemaker", self.region)
        try:
            model = sagemaker.describe_model(ModelName=spec["ModelName"])
        except sagemaker.exceptions.ClientError as err:
            raise DeployError(f"Could not find model {spec['ModelName']!r}.") from err
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        environment = dict(container.get("Environment", {}))
        role = model.get("ExecutionRoleArn")
        if not role:
            raise DeployError(f"model {spec['ModelName']!r} has no ExecutionRoleArn to read its ModelDataUrl with")
        session = self.stack.role_session(role, "sagemaker.amazonaws.com", "SageMaker", self.arn(endpoint_name))
        try:
            session.current()
        except Exception as err:
            raise DeployError(
                f"Could not assume the execution role {role} of model {spec['ModelName']!r}: {_error_text(err)}"
            ) from err
        if "SAGEMAKER_PROGRAM" not in environment:
            raise DeployError(
                f"model {spec['ModelName']!r} (image {container.get('Image')!r}): the local stack serves script-mode "
                "framework models - set SAGEMAKER_PROGRAM (and SAGEMAKER_SUBMIT_DIRECTORY) in its Environment"
            )
        workdir = Path(tempfile.mkdtemp(prefix=f"{spec['VariantName']}-", dir=self._root))
        model_dir, code_dir = workdir / "model", None
        s3 = session.client("s3", self.region)
        self._extract(s3, container.get("ModelDataUrl"), model_dir, "ModelDataUrl")
        submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code")
        if submit.startswith("s3://"):
            code_dir = workdir / "code"
            self._extract(s3, submit, code_dir, "SAGEMAKER_SUBMIT_DIRECTORY")
        elif submit.startswith("/opt/ml/model"):
            code_dir = model_dir / submit[len("/opt/ml/model") :].lstrip("/")
        if code_dir is not None and code_dir.is_dir():
            refusal = image_refusal(container.get("Image", ""), code_dir)
            if refusal is not None:  # the server's Python fails on the code: the variant never turns healthy
                shutil.rmtree(workdir, ignore_errors=True)
                raise DeployError(
                    f"The primary container for production variant {spec['VariantName']} did not pass the ping "
                    f"health check: {refusal}"
                )

        server = ModelServer(spec["ModelName"], spec["VariantName"], _free_port(), workdir)
        fault = self.stack.faults.take_model_fault(spec["ModelName"], spec["VariantName"])
        if fault is not None:
            environment["LOCALAWS_FAULT_ERROR_RATE"] = str(fault.error_rate)
            environment["LOCALAWS_FAULT_LATENCY_MS"] = str(fault.latency_ms)
        ident, credentials = self.stack.credentials.register(session)
        server.release = lambda: self.stack.credentials.unregister(ident)
        env = job_environment(self.stack.url, self.region, environment, credentials, self.stack.ca_bundle)
        env.pop("PYTHONPATH", None)  # the model brings its own code, as in the container
        argv = [sys.executable, str(SERVER_SCRIPT), "--model-dir", str(model_dir), "--port", str(server.port)]
        if code_dir is not None:
            argv += ["--code-dir", str(code_dir)]
        sink = CloudWatchLogSink(
            session.client("logs", self.region),
            f"{LOG_GROUP}/{endpoint_name}",
            f"{spec['VariantName']}/i-{uuid.uuid4().hex[:17]}",
            create_group=True,
        )
        try:
            sink.open()
        except Exception as err:
            server.release()
            shutil.rmtree(workdir, ignore_errors=True)
            raise DeployError(
                f"Could not write the logs of production variant {spec['VariantName']} to {LOG_GROUP}/{endpoint_name} "
                f"with the execution role: {_error_text(err)}"
            ) from err
        server.process = JobProcess(argv, env, sink, server.exited, cwd=workdir)
        server.process.start()
        return server

    def _extract(self, s3, uri: str | None, target: Path, what: str) -> None:
        if not uri:
            raise DeployError(f"{what} is missing")
        bucket, key = _split_s3(uri)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.ClientError as err:
            raise DeployError(f"Could not access {what} {uri}: {_error_text(err)}") from err
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            archive.extractall(target, filter="data")

    # --- data plane --------------------------------------------------------------------------
    def invoke(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoint = self.endpoints.get(params["EndpointName"])
        if endpoint is None:  # the runtime's wording, not the control plane's (DescribeEndpoint)
            raise AwsError(
                "ValidationError", f"Endpoint {params['EndpointName']} of account {self.account_id} not found.", 400
            )
        if endpoint.status not in ("InService", "Updating") or not endpoint.variants:
            raise AwsError(
                "ValidationError", f"Endpoint {endpoint.name} of account {self.account_id} is not in service.", 400
            )
        with self._lock:
            variants = list(endpoint.variants.values())
            target = params.get("TargetVariant")
            if target:
                chosen = next((v for v in variants if v.name == target), None)
                if chosen is None:
                    raise AwsError("ValidationError", f"Variant {target} not found for endpoint {endpoint.name}.", 400)
            else:
                chosen = self._random.choices(variants, weights=[v.weight for v in variants])[0]
        started = time.perf_counter()
        status, body, content_type, model_s = self._forward(chosen, params)
        total_us = (time.perf_counter() - started) * 1e6
        self._publish(endpoint.name, chosen.name, status, model_s * 1e6, max(total_us - model_s * 1e6, 0.0))
        if status != 200:
            raise AwsError(
                "ModelError",
                f"Received {'server' if status >= 500 else 'client'} error ({status}) from primary with message "
                f'"{body.decode("utf-8", "replace")[:500]}". See CloudWatch logs of {LOG_GROUP}/{endpoint.name}.',
                424,
            )
        return {"Body": body, "ContentType": content_type, "InvokedProductionVariant": chosen.name}

    @staticmethod
    def _forward(variant: Variant, params: dict[str, Any]) -> tuple[int, bytes, str, float]:
        headers = {
            "Content-Type": params.get("ContentType", "application/octet-stream"),
            "Accept": params.get("Accept", "*/*"),
        }
        body = params.get("Body", b"")
        if isinstance(body, str):
            body = body.encode()
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", variant.server.port, timeout=INVOKE_TIMEOUT_S)
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            return (
                response.status,
                payload,
                response.getheader("Content-Type", "application/json"),
                time.perf_counter() - started,
            )
        except OSError as err:
            return 500, f"the model server did not answer: {err}".encode(), "text/plain", time.perf_counter() - started

    def _publish(self, endpoint: str, variant: str, status: int, model_us: float, overhead_us: float) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.utils import utcnow

        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        now = utcnow()  # moto keeps metric timestamps naive (UTC)

        def datum(name: str, value: float, unit: str) -> dict[str, Any]:
            return {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit, "Timestamp": now}

        data = [
            datum("Invocations", 1, "None"),
            datum("InvocationsPerInstance", 1, "None"),
            datum("Invocation4XXErrors", float(400 <= status < 500), "None"),
            datum("Invocation5XXErrors", float(status >= 500), "None"),
            datum("ModelLatency", model_us, "Microseconds"),
            datum("OverheadLatency", overhead_us, "Microseconds"),
        ]
        cloudwatch_backends[self.account_id][self.region].put_metric_data("AWS/SageMaker", data)
