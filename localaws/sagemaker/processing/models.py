"""SageMaker Processing jobs that really run: the processing container's contract on this machine.

CreateProcessingJob (API reference: ProcessingInputs, ProcessingOutputConfig, AppSpecification,
ProcessingResources, StoppingCondition, Environment, RoleArn) is validated as SageMaker does, then
the job runs in a thread of its own:
  - each `S3Input` (`S3DataType` S3Prefix, `S3InputMode` File) is downloaded from the local S3 to
    its `LocalPath`, which must lie under /opt/ml/processing/;
  - the container runs as `docker run --entrypoint <ContainerEntrypoint> <image> <ContainerArguments>`
    would: without ContainerEntrypoint, the image's own entry point from `localaws/images.toml`.
    The container's `/opt/ml` is the job's directory here, so every argument and Environment value
    naming a path under /opt/ml/ is translated to it, and `python`/`python3` is this interpreter;
  - before it starts, the image check of issue 15 (include/images.py): the Python code the job
    receives in its inputs, inside `.tar.gz` archives too, must run on the image's Python;
  - its output goes to CloudWatch Logs (`/aws/sagemaker/ProcessingJobs`, `<job>/algo-1-<epoch>`);
  - exit 0: each `S3Output` LocalPath is uploaded under its S3Uri (EndOfJob), then `Completed`;
    otherwise `Failed` with `FailureReason` `AlgorithmError: ...`. The first KB of
    /opt/ml/output/message becomes `ExitMessage` in any terminal status;
  - StopProcessingJob: `Stopping`, SIGTERM, `Stopped`; past MaxRuntimeInSeconds the job is stopped
    the same way ("After the condition is met, the processing job is stopped": `Stopped`, no
    FailureReason).

Everything runs as the job's `RoleArn` assumed by sagemaker.amazonaws.com: the downloads, the log
stream, the uploads and the container itself (its session from the credentials endpoint), so a
grant missing in the role fails the job with the refused action in FailureReason.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from localaws.backends import AccountBackend
from localaws.events import delivery
from localaws.jobs import CloudWatchLogSink, JobProcess, UnknownImage, entrypoint_for, image_refusal, job_environment
from localaws.sagemaker.listing import listed
from localaws.sagemaker.training.models import _text
from localaws.wire import AwsError

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
SAGEMAKER = "sagemaker.amazonaws.com"
CONTAINER_ML = PurePosixPath("/opt/ml")
PROCESSING_ROOT = PurePosixPath("/opt/ml/processing")
EXIT_MESSAGE = PurePosixPath("/opt/ml/output/message")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_PYTHONS = ("python", "python3", f"python3.{sys.version_info.minor}")


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


@dataclass
class ProcessingJob:
    name: str
    arn: str
    request: dict[str, Any]
    workdir: Path  # the container's /opt/ml
    status: str = "InProgress"
    created: datetime = field(default_factory=_now)
    started: datetime | None = None
    ended: datetime | None = None
    modified: datetime = field(default_factory=_now)
    failure_reason: str | None = None
    exit_message: str | None = None
    process: JobProcess | None = None
    stop_requested: bool = False
    session: Any = None  # the execution role's RoleSession

    def describe(self) -> dict[str, Any]:
        r = self.request
        out: dict[str, Any] = {
            "ProcessingJobName": self.name,
            "ProcessingJobArn": self.arn,
            "ProcessingJobStatus": self.status,
            "ProcessingInputs": r.get("ProcessingInputs", []),
            "ProcessingResources": r["ProcessingResources"],
            "AppSpecification": r["AppSpecification"],
            "RoleArn": r["RoleArn"],
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
        }
        for key in ("ProcessingOutputConfig", "StoppingCondition", "Environment", "NetworkConfig"):
            if key in r:
                out[key] = r[key]
        if self.started:
            out["ProcessingStartTime"] = self.started
        if self.ended:
            out["ProcessingEndTime"] = self.ended
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.exit_message is not None:
            out["ExitMessage"] = self.exit_message
        return out

    def summary(self) -> dict[str, Any]:
        out = {
            "ProcessingJobName": self.name,
            "ProcessingJobArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "ProcessingJobStatus": self.status,
        }
        if self.ended:
            out["ProcessingEndTime"] = self.ended
        for key, value in (("FailureReason", self.failure_reason), ("ExitMessage", self.exit_message)):
            if value is not None:
                out[key] = value
        return out

    def local(self, container_path: str) -> str:
        """The job's directory for a container path under /opt/ml (anything else unchanged)."""
        path = PurePosixPath(container_path)
        if path == CONTAINER_ML or CONTAINER_ML in path.parents:
            return str(self.workdir / path.relative_to(CONTAINER_ML))
        return container_path


def validate(params: dict[str, Any]) -> None:
    """What CreateProcessingJob refuses before creating anything (the API reference's constraints)."""
    name = params.get("ProcessingJobName", "")
    if not _NAME.match(name):
        raise _invalid(f"Processing job name {name!r} must match {_NAME.pattern}")
    app = params.get("AppSpecification") or {}
    if not app.get("ImageUri"):
        raise _invalid("AppSpecification.ImageUri is required")
    cluster = (params.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    for key in ("InstanceCount", "InstanceType", "VolumeSizeInGB"):
        if key not in cluster:
            raise _invalid(f"ProcessingResources.ClusterConfig.{key} is required")
    if not params.get("RoleArn"):
        raise _invalid("RoleArn is required")
    runtime = (params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if runtime is not None and not 1 <= int(runtime) <= 777600:
        raise _invalid("StoppingCondition.MaxRuntimeInSeconds must be between 1 and 777600")
    inputs = params.get("ProcessingInputs") or []
    if len(inputs) > 10:
        raise _invalid("ProcessingInputs: at most 10 inputs")
    outputs = (params.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    names, paths = set(), set()
    for kind, item in [("ProcessingInputs", i) for i in inputs] + [("Outputs", o) for o in outputs]:
        label = item.get("InputName") or item.get("OutputName")
        if not label:
            raise _invalid(f"{kind}: every entry needs a name")
        if label in names:
            raise _invalid(f"{kind}: the name {label!r} is used twice; input and output names must be unique")
        names.add(label)
        spec = item.get("S3Input") or item.get("S3Output")
        if spec is None:
            what = "DatasetDefinition" if item.get("DatasetDefinition") else "FeatureStoreOutput or S3Output"
            raise _invalid(f"{kind} {label!r}: {what} is not run by the local stack; use S3")
        local = PurePosixPath(spec.get("LocalPath") or "")
        if PROCESSING_ROOT not in local.parents:
            raise _invalid(f"{kind} {label!r}: LocalPath {str(local)!r} must be a path under /opt/ml/processing/")
        if str(local) in paths:
            raise _invalid(f"{kind} {label!r}: LocalPath {str(local)!r} is used twice")
        paths.add(str(local))
        if not str(spec.get("S3Uri", "")).startswith("s3://"):
            raise _invalid(f"{kind} {label!r}: S3Uri must be an s3:// URI")
        if "S3Input" in item:
            if spec.get("S3DataType") not in ("S3Prefix", "ManifestFile"):
                raise _invalid(f"input {label!r}: S3DataType must be S3Prefix or ManifestFile")
            if spec["S3DataType"] == "ManifestFile" or spec.get("S3InputMode", "File") != "File":
                raise _invalid(f"input {label!r}: only S3Prefix in File mode is run by the local stack")
        elif spec.get("S3UploadMode") not in ("EndOfJob", "Continuous"):
            raise _invalid(f"output {label!r}: S3UploadMode must be EndOfJob or Continuous")


class ProcessingBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.jobs: dict[str, ProcessingJob] = {}
        self._root = Path(tempfile.mkdtemp(prefix="localaws-processing-"))

    # --- API ---------------------------------------------------------------------------------
    def create(self, params: dict[str, Any]) -> ProcessingJob:
        validate(params)
        name = params["ProcessingJobName"]
        with self._lock:
            if name in self.jobs:
                raise AwsError(
                    "ResourceInUse",
                    f"Job name must be unique within an AWS account and region, and a job with this name "
                    f"already exists ({self.arn(name)})",
                    400,
                )
            job = ProcessingJob(name, self.arn(name), params, self._root / name / "opt-ml")
            self.jobs[name] = job
        self._state_changed(job)
        threading.Thread(target=self._run, args=(job,), name=f"processing-{name}", daemon=True).start()
        return job

    def describe(self, name: str) -> ProcessingJob:
        with self._lock:
            job = self.jobs.get(name)
        if job is None:
            raise AwsError("ValidationException", f"Could not find requested job with name {name}", 400)
        return job

    def list(self, params: dict[str, Any]) -> list[ProcessingJob]:
        with self._lock:
            jobs = list(self.jobs.values())
        return listed(jobs, params, limit=params.get("MaxResults", 100))

    def stop(self, name: str) -> None:
        job = self.describe(name)
        if job.status != "InProgress":
            raise AwsError("ValidationException", f"The processing job {name} is not in progress ({job.status}).", 400)
        job.stop_requested = True
        job.status, job.modified = "Stopping", _now()
        if job.process is not None:
            threading.Thread(target=job.process.stop, args=(5.0,), daemon=True).start()

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            if job.process is not None:
                job.process.stop(2.0)
        shutil.rmtree(self._root, ignore_errors=True)

    def arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:processing-job/{name.lower()}"

    # --- the job's life ----------------------------------------------------------------------
    def _run(self, job: ProcessingJob) -> None:
        session = self.stack.role_session(job.request["RoleArn"], SAGEMAKER, "SageMaker", job.arn)
        try:
            session.current()
        except Exception as err:  # accepted by CreateProcessingJob; SageMaker fails the job at start
            reason = f"ClientError: unable to assume role {job.request['RoleArn']}: {_text(err)}"
            return self._finish(job, "Failed", reason)
        job.session = session
        try:
            self._download_inputs(job, session)
            argv = self._argv(job)
            refusal = image_refusal(job.request["AppSpecification"]["ImageUri"], self._code_of(job))
        except AwsError as err:
            return self._finish(job, "Failed", err.message)
        except Exception as err:  # a download problem: the job fails, as on AWS
            return self._finish(job, "Failed", f"ClientError: {_text(err)}")
        if refusal is not None:
            return self._finish(job, "Failed", f"AlgorithmError: {refusal}")
        if job.stop_requested:
            return self._finish(job, "Stopped", None)
        stream = f"{job.name}/algo-1-{int(time.time())}"
        sink = CloudWatchLogSink(session.client("logs", self.region), LOG_GROUP, stream, create_group=True)
        try:
            sink.open()
        except Exception as err:
            return self._finish(job, "Failed", f"ClientError: writing the job's log failed: {_text(err)}")
        credentials_id, credentials = self.stack.credentials.register(session)
        variables = {k: job.local(v) for k, v in (job.request.get("Environment") or {}).items()}
        env = job_environment(self.stack.url, self.region, {}, credentials, self.stack.ca_bundle)
        env.pop("PYTHONPATH", None)  # the container's Python has only what the image installed
        env.update(variables)
        fault = self.stack.faults.take_job_fault(job.request["AppSpecification"]["ImageUri"], job.name)
        if fault is not None:
            argv = [sys.executable, "-c", f"import sys; print('injected failure'); sys.exit({fault.exit_code})"]
        (job.workdir / "output").mkdir(parents=True, exist_ok=True)
        job.process = JobProcess(
            argv,
            env,
            sink,
            lambda code: self._exited(job, code),
            cwd=job.workdir,
            release=lambda: self.stack.credentials.unregister(credentials_id),
        )
        job.started = job.modified = _now()
        job.process.start()
        limit = (job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        if limit:
            timer = threading.Timer(float(limit), self._timeout, args=(job, int(limit)))
            timer.daemon = True
            timer.start()

    def _timeout(self, job: ProcessingJob, limit: int) -> None:
        if job.status == "InProgress":
            self.stop(job.name)

    def _download_inputs(self, job: ProcessingJob, session) -> None:
        s3 = session.client("s3", self.region)
        for item in job.request.get("ProcessingInputs") or []:
            spec = item["S3Input"]
            target = Path(job.local(spec["LocalPath"]))
            target.mkdir(parents=True, exist_ok=True)
            bucket, _, prefix = spec["S3Uri"][5:].partition("/")
            found = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    relative = obj["Key"][len(prefix) :].lstrip("/") or PurePosixPath(obj["Key"]).name
                    destination = target / relative
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, obj["Key"], str(destination))
                    found += 1
            if not found:
                raise _invalid(f"ClientError: no data under {spec['S3Uri']} for input {item['InputName']}")

    def _argv(self, job: ProcessingJob) -> list[str]:
        app = job.request["AppSpecification"]
        entry = app.get("ContainerEntrypoint")
        if entry:
            argv = list(entry)
            if PurePosixPath(argv[0]).name in _PYTHONS:
                argv[0] = sys.executable
        else:
            try:
                argv = entrypoint_for(app["ImageUri"])
            except UnknownImage as err:
                raise _invalid(f"ClientError: {err}") from err
        return [job.local(a) for a in [*argv, *(app.get("ContainerArguments") or [])]]

    @staticmethod
    def _code_of(job: ProcessingJob) -> Path:
        """The Python code the job received: its input directories, `.tar.gz` archives extracted
        beside them (a scratch copy: the container sees the inputs as downloaded)."""
        inputs = job.workdir / "processing"
        scratch = job.workdir.parent / "code-check"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for path in sorted(inputs.rglob("*")):
            relative = path.relative_to(inputs)
            if path.suffix == ".py":
                (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, scratch / relative)
            elif path.name.endswith((".tar.gz", ".tgz")):
                with tarfile.open(path, mode="r:gz") as archive:
                    members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".py")]
                    archive.extractall(scratch / f"{relative}.d", members=members, filter="data")
        return scratch

    def _exited(self, job: ProcessingJob, code: int) -> None:
        message = job.workdir / EXIT_MESSAGE.relative_to(CONTAINER_ML)
        if message.is_file():
            try:
                job.exit_message = message.read_bytes()[:1024].decode("utf-8")
            except UnicodeDecodeError:
                return self._finish(job, "Failed", "ClientError: /opt/ml/output/message is not UTF-8 encoded")
        if job.stop_requested:
            return self._finish(job, "Stopped", None)
        if code != 0:
            detail = (job.exit_message or "").strip() or "See job logs for more information"
            return self._finish(job, "Failed", f"AlgorithmError: {detail}, exit code: {code}"[:1024])
        try:
            self._upload_outputs(job)
        except Exception as err:
            return self._finish(job, "Failed", f"ClientError: uploading the outputs failed: {_text(err)}")
        self._finish(job, "Completed", None)

    def _upload_outputs(self, job: ProcessingJob) -> None:
        s3 = job.session.client("s3", self.region)
        for item in (job.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            spec = item["S3Output"]
            source = Path(job.local(spec["LocalPath"]))
            bucket, _, prefix = spec["S3Uri"][5:].partition("/")
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                key = "/".join(part for part in (prefix.rstrip("/"), str(path.relative_to(source))) if part)
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    def _finish(self, job: ProcessingJob, status: str, reason: str | None) -> None:
        job.ended = job.modified = _now()
        job.failure_reason = reason
        job.status = status
        self._state_changed(job)

    def _state_changed(self, job: ProcessingJob) -> None:
        """SageMaker's `SageMaker Processing Job State Change` event on the default bus."""
        detail = delivery.jsonable(job.describe(), delivery.epoch_millis)
        delivery.emit(
            self.account_id, self.region, "aws.sagemaker", "SageMaker Processing Job State Change", detail, [job.arn]
        )
