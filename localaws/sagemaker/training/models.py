"""SageMaker training jobs that really run: the script-mode contract reproduced on this machine.

CreateTrainingJob lays out an `/opt/ml`-shaped directory (input/config/*.json, input/data/<channel>
downloaded from the local S3, model/, output/), then starts the algorithm as a local process:
  - script mode (framework images): `sagemaker_submit_directory` (s3://...tar.gz) is extracted and
    `python <sagemaker_program> --name value ...` runs in it, as SageMaker's training toolkit does;
  - any other image: its entry point from `localaws/images.toml`, with the argument `train`.
The process gets SageMaker's environment (SM_CHANNEL_*, SM_HPS, SM_MODEL_DIR, ...). Its output
goes to CloudWatch Logs (`/aws/sagemaker/TrainingJobs`, stream `<job>/algo-1-<epoch>`); metrics
are read from the log with the job's MetricDefinitions. On success model/ is uploaded as
`<S3OutputPath>/<job>/output/model.tar.gz` (and output/data as output.tar.gz); on failure the
reason is `/opt/ml/output/failure` if the algorithm wrote it, else the exit code.

Everything runs as the job's execution role (`RoleArn`, assumed as `sagemaker.amazonaws.com`, as
SageMaker does): the input download, the log stream, the model upload, and the algorithm itself,
which gets the role's session from the credentials endpoint - so a grant missing in the role fails
the job with the refused action in its FailureReason or log.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localaws.backends import AccountBackend
from localaws.events import delivery
from localaws.jobs import (
    CloudWatchLogSink,
    JobProcess,
    UnknownImage,
    entrypoint_for,
    image_refusal,
    job_environment,
)
from localaws.sagemaker.listing import listed
from localaws.wire import AwsError

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
SAGEMAKER = "sagemaker.amazonaws.com"
TERMINAL = ("Completed", "Failed", "Stopped")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _now() -> datetime:
    return datetime.now(UTC)


class _LogTap(CloudWatchLogSink):
    """The CloudWatch sink that also keeps the lines for the metric regexes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line.rstrip("\n"))
        super().write(line)


@dataclass
class TrainingJob:
    name: str
    arn: str
    request: dict[str, Any]
    workdir: Path
    status: str = "InProgress"
    secondary: str = "Starting"
    created: datetime = field(default_factory=_now)
    started: datetime | None = None
    ended: datetime | None = None
    modified: datetime = field(default_factory=_now)
    failure_reason: str | None = None
    model_uri: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    process: JobProcess | None = None
    tap: _LogTap | None = None
    stop_requested: bool = False
    session: Any = None  # the execution role's RoleSession
    credentials_id: str | None = None

    def move(self, secondary: str, message: str) -> None:
        now = _now()
        if self.transitions:
            self.transitions[-1]["EndTime"] = now
        self.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        self.secondary = secondary
        self.modified = now

    def describe(self) -> dict[str, Any]:
        r = self.request
        out: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
            "AlgorithmSpecification": r["AlgorithmSpecification"],
            "RoleArn": r["RoleArn"],
            "InputDataConfig": r.get("InputDataConfig", []),
            "OutputDataConfig": r["OutputDataConfig"],
            "ResourceConfig": r["ResourceConfig"],
            "StoppingCondition": r["StoppingCondition"],
            "HyperParameters": r.get("HyperParameters", {}),
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "SecondaryStatusTransitions": self.transitions,
            "FinalMetricDataList": self.metrics,
            "EnableNetworkIsolation": r.get("EnableNetworkIsolation", False),
            "ModelArtifacts": {"S3ModelArtifacts": self.model_uri or ""},
        }
        if self.started:
            out["TrainingStartTime"] = self.started
        if self.ended:
            out["TrainingEndTime"] = self.ended
            out["TrainingTimeInSeconds"] = int((self.ended - (self.started or self.created)).total_seconds())
            out["BillableTimeInSeconds"] = out["TrainingTimeInSeconds"]
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out

    def summary(self) -> dict[str, Any]:
        out = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "TrainingJobStatus": self.status,
        }
        if self.ended:
            out["TrainingEndTime"] = self.ended
        return out


class TrainingBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.jobs: dict[str, TrainingJob] = {}
        self._root = Path(tempfile.mkdtemp(prefix="localaws-sagemaker-"))

    # --- API ---------------------------------------------------------------------------------
    def create(self, params: dict[str, Any]) -> TrainingJob:
        name = params["TrainingJobName"]
        if not _NAME.match(name):
            raise AwsError("ValidationException", f"Training job name {name!r} must match {_NAME.pattern}", 400)
        algorithm = params["AlgorithmSpecification"]
        if not algorithm.get("TrainingImage") and not algorithm.get("AlgorithmName"):
            raise AwsError("ValidationException", "AlgorithmSpecification needs a TrainingImage or AlgorithmName", 400)
        with self._lock:
            if name in self.jobs:
                raise AwsError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({self.arn(name)})",
                    400,
                )
            job = TrainingJob(name, self.arn(name), params, self._root / name)
            self.jobs[name] = job
        self._state_changed(job)
        threading.Thread(target=self._run, args=(job,), name=f"training-{name}", daemon=True).start()
        return job

    def describe(self, name: str) -> TrainingJob:
        with self._lock:
            job = self.jobs.get(name)
        if job is None:
            raise AwsError("ValidationException", "Requested resource not found.", 400)
        return job

    def list(self, params: dict[str, Any]) -> list[TrainingJob]:
        with self._lock:
            jobs = list(self.jobs.values())
        return listed(jobs, params, limit=params.get("MaxResults", 100))

    def stop(self, name: str) -> None:
        job = self.describe(name)
        if job.status != "InProgress":
            raise AwsError("ValidationException", f"The training job {name} is not in progress ({job.status}).", 400)
        job.stop_requested = True
        job.status = "Stopping"
        job.move("Stopping", "Stopping the training job")
        if job.process is not None:
            threading.Thread(target=job.process.stop, args=(5.0,), daemon=True).start()

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            if job.process is not None:
                job.process.stop(2.0)
        shutil.rmtree(self._root, ignore_errors=True)

    def arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:training-job/{name.lower()}"

    # --- the job's life ----------------------------------------------------------------------
    def _run(self, job: TrainingJob) -> None:
        job.session = self.stack.role_session(job.request["RoleArn"], SAGEMAKER, "SageMaker", job.arn)
        try:
            job.session.current()
        except Exception as err:  # CreateTrainingJob accepted it; SageMaker fails the job at start
            reason = f"ClientError: unable to assume role {job.request['RoleArn']}: {_text(err)}"
            return self._finish(job, "Failed", reason)
        try:
            argv, code_dir = self._prepare(job)
        except AwsError as err:
            return self._finish(job, "Failed", err.message)
        except Exception as err:  # a download or layout problem: the job fails, as on AWS
            return self._finish(job, "Failed", f"ClientError: {_text(err)}")
        if job.stop_requested:
            return self._finish(job, "Stopped", None)
        logs = job.session.client("logs", self.region)
        stream = f"{job.name}/algo-1-{int(time.time())}"
        job.tap = _LogTap(logs, LOG_GROUP, stream, create_group=True)
        try:
            job.tap.open()
        except Exception as err:
            return self._finish(job, "Failed", f"ClientError: writing the job's log failed: {_text(err)}")
        job.credentials_id, credentials = self.stack.credentials.register(job.session)
        env = job_environment(
            self.stack.url, self.region, self._sm_environment(job, code_dir), credentials, self.stack.ca_bundle
        )
        fault = self.stack.faults.take_job_fault(
            job.request["AlgorithmSpecification"].get("TrainingImage", ""), job.name
        )
        if fault is not None:
            argv = [sys.executable, "-c", f"import sys; print('injected failure'); sys.exit({fault.exit_code})"]
        job.process = JobProcess(
            argv,
            env,
            job.tap,
            lambda code: self._exited(job, code),
            cwd=code_dir,
            release=lambda: self.stack.credentials.unregister(job.credentials_id),
        )
        job.started = _now()
        job.move("Training", "Training image download completed. Training in progress.")
        job.process.start()

    def _prepare(self, job: TrainingJob) -> tuple[list[str], Path]:
        r = job.request
        ml = job.workdir
        for sub in ("input/config", "input/data", "model", "output/data", "code"):
            (ml / sub).mkdir(parents=True, exist_ok=True)
        job.move("Downloading", "Downloading input data")
        hyperparameters = r.get("HyperParameters", {})
        (ml / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))
        (ml / "input/config/inputdataconfig.json").write_text(
            json.dumps(
                {
                    c["ChannelName"]: {
                        "TrainingInputMode": r["AlgorithmSpecification"].get("TrainingInputMode", "File")
                    }
                    for c in r.get("InputDataConfig", [])
                }
            )
        )
        (ml / "input/config/resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
        )
        s3 = job.session.client("s3", self.region)
        for channel in r.get("InputDataConfig", []):
            source = channel["DataSource"].get("S3DataSource")
            if source is None:
                raise AwsError(
                    "ValidationException",
                    f"channel {channel['ChannelName']}: only S3DataSource is supported locally",
                    400,
                )
            self._download(s3, source["S3Uri"], ml / "input/data" / channel["ChannelName"], channel["ChannelName"])
        image = r["AlgorithmSpecification"].get("TrainingImage", "")
        program = _unquote(hyperparameters.get("sagemaker_program"))
        if program:
            submit = _unquote(hyperparameters.get("sagemaker_submit_directory"))
            if not submit or not submit.startswith("s3://"):
                raise AwsError(
                    "ValidationException", "sagemaker_program needs sagemaker_submit_directory (s3://...tar.gz)", 400
                )
            bucket, key = submit[5:].split("/", 1)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
                archive.extractall(ml / "code", filter="data")
            if not (ml / "code" / program).is_file():
                raise AwsError("ValidationException", f"{program} is not in {submit}", 400)
            refusal = image_refusal(image, ml / "code")
            if refusal is not None:  # the job fails as the framework image's Python would fail it
                raise AwsError("ValidationException", f"AlgorithmError: {refusal}", 400)
            args = []
            for k, v in hyperparameters.items():
                if not k.startswith("sagemaker_"):
                    args += [f"--{k}", _unquote(v)]
            return [sys.executable, str(ml / "code" / program), *args], ml / "code"
        try:
            return [*entrypoint_for(image), "train"], ml / "code"
        except UnknownImage as err:
            raise AwsError("ValidationException", f"ClientError: {err}", 400) from err

    @staticmethod
    def _download(s3, uri: str, target: Path, channel: str) -> None:
        bucket, _, prefix = uri[5:].partition("/")
        found = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :].lstrip("/") or Path(obj["Key"]).name
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(destination))
                found += 1
        if not found:
            raise AwsError("ValidationException", f"ClientError: no data under {uri} for channel {channel}", 400)

    def _sm_environment(self, job: TrainingJob, code_dir: Path) -> dict[str, str]:
        ml = job.workdir
        hyperparameters = {k: _unquote(v) for k, v in job.request.get("HyperParameters", {}).items()}
        channels = [c["ChannelName"] for c in job.request.get("InputDataConfig", [])]
        env = {
            "SM_MODEL_DIR": str(ml / "model"),
            "SM_OUTPUT_DATA_DIR": str(ml / "output/data"),
            "SM_INPUT_DIR": str(ml / "input"),
            "SM_INPUT_CONFIG_DIR": str(ml / "input/config"),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps({k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NUM_CPUS": "2",
            "SM_NUM_GPUS": "0",
            "TRAINING_JOB_NAME": job.name,
            "TRAINING_JOB_ARN": job.arn,
            "PYTHONPATH": str(code_dir),
        }
        env.update({f"SM_CHANNEL_{c.upper()}": str(ml / "input/data" / c) for c in channels})
        env.update(job.request.get("Environment", {}))
        return env

    def _exited(self, job: TrainingJob, code: int) -> None:
        job.metrics = self._metrics(job)
        if job.stop_requested:
            return self._finish(job, "Stopped", None)
        if code != 0:
            failure = job.workdir / "output" / "failure"
            detail = failure.read_text().strip() if failure.is_file() else ""
            reason = f"AlgorithmError: {detail or 'see the job logs'}, exit code: {code}"
            return self._finish(job, "Failed", reason)
        try:
            job.move("Uploading", "Uploading generated training model")
            job.model_uri = self._upload(job)
        except Exception as err:
            return self._finish(job, "Failed", f"ClientError: uploading the model failed: {_text(err)}")
        self._finish(job, "Completed", None)

    def _upload(self, job: TrainingJob) -> str:
        s3 = job.session.client("s3", self.region)
        output = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        bucket, _, prefix = output[5:].partition("/")
        base = f"{prefix}/{job.name}/output" if prefix else f"{job.name}/output"
        for name, directory in (
            ("model.tar.gz", job.workdir / "model"),
            ("output.tar.gz", job.workdir / "output/data"),
        ):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                for path in sorted(directory.rglob("*")):
                    archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
            s3.put_object(Bucket=bucket, Key=f"{base}/{name}", Body=buffer.getvalue())
        return f"s3://{bucket}/{base}/model.tar.gz"

    @staticmethod
    def _metrics(job: TrainingJob) -> list[dict[str, Any]]:
        lines = job.tap.lines if job.tap else []
        found = []
        for definition in job.request["AlgorithmSpecification"].get("MetricDefinitions", []):
            pattern = re.compile(definition["Regex"])
            value = None
            for line in lines:
                for match in pattern.finditer(line):
                    try:
                        value = float(match.group(1))
                    except (IndexError, ValueError):
                        continue
            if value is not None:
                found.append({"MetricName": definition["Name"], "Value": value, "Timestamp": _now()})
        return found

    def _finish(self, job: TrainingJob, status: str, reason: str | None) -> None:
        job.ended = _now()
        job.failure_reason = reason
        job.move(
            status, {"Completed": "Training job completed", "Stopped": "Training job stopped"}.get(status, reason or "")
        )
        job.status = status
        self._state_changed(job)

    def _state_changed(self, job: TrainingJob) -> None:
        """SageMaker's `SageMaker Training Job State Change` event on the default bus."""
        detail = delivery.jsonable(job.describe(), delivery.epoch_millis)
        detail.pop("FinalMetricDataList", None)
        delivery.emit(
            self.account_id, self.region, "aws.sagemaker", "SageMaker Training Job State Change", detail, [job.arn]
        )


def _text(err: Exception) -> str:
    """An AWS error as SageMaker quotes it (`AccessDenied: User: ... is not authorized to perform:
    s3:GetObject on resource: ...`), anything else as `Type: message`."""
    error = getattr(err, "response", {}).get("Error", {})
    if error.get("Code"):
        return f"{error['Code']}: {error.get('Message', '')}"
    return f"{type(err).__name__}: {err}"


def _unquote(value: str | None) -> str | None:
    """The SageMaker SDK JSON-encodes hyperparameter values ('"train.py"'); accept both forms."""
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, TypeError):
        return value
    return decoded if isinstance(decoded, str) else value
