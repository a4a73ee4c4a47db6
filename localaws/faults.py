"""Fault injection: make the next N calls of an API fail, the next N jobs exit non-zero, or the next
N model servers (endpoint variants) answer with errors or slowly.

Tests arm faults to prove that operators retry throttling, report missing resources and surface
a failed job's reason; nothing is armed unless a test or a person asks for it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

# Status codes AWS uses for the common errors that service models do not declare per service.
COMMON_ERROR_STATUS = {
    "ThrottlingException": 400,
    "Throttling": 400,
    "TooManyRequestsException": 429,
    "RequestLimitExceeded": 503,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "AccessDeniedException": 400,
}


@dataclass
class ApiFault:
    service: str
    operation: str
    error_code: str = "ThrottlingException"
    message: str = "Rate exceeded (injected by localaws)"
    count: int = 1
    status: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if self.status is None:
            self.status = COMMON_ERROR_STATUS.get(self.error_code)


@dataclass
class JobFault:
    """Makes the next `count` jobs whose image or job name contains `match` exit with `exit_code`."""

    match: str
    exit_code: int = 1
    message: str = "job failure injected by localaws"
    count: int = 1

    def __post_init__(self) -> None:
        if self.exit_code == 0:
            raise ValueError("a job fault needs a non-zero exit code")


@dataclass
class ModelFault:
    """The next `count` model servers whose model or variant name contains `match` misbehave."""

    match: str
    error_rate: float = 1.0  # share of invocations answered with a 500
    latency_ms: float = 0.0  # added to every invocation
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate <= 1 or self.latency_ms < 0:
            raise ValueError("a model fault needs error_rate in 0..1 and latency_ms >= 0")
        if self.error_rate == 0 and self.latency_ms == 0:
            raise ValueError("a model fault needs errors or latency")


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._api: list[ApiFault] = []
        self._jobs: list[JobFault] = []
        self._models: list[ModelFault] = []

    def arm(self, fault: ApiFault | JobFault | ModelFault) -> None:
        with self._lock:
            if isinstance(fault, ApiFault):
                self._api.append(fault)
            elif isinstance(fault, JobFault):
                self._jobs.append(fault)
            else:
                self._models.append(fault)

    def arm_api(self, service: str, operation: str, error_code: str = "ThrottlingException", **kwargs) -> ApiFault:
        fault = ApiFault(service, operation, error_code, **kwargs)
        self.arm(fault)
        return fault

    def arm_job(self, match: str, exit_code: int = 1, **kwargs) -> JobFault:
        fault = JobFault(match, exit_code, **kwargs)
        self.arm(fault)
        return fault

    def arm_model(self, match: str, error_rate: float = 1.0, latency_ms: float = 0.0, **kwargs) -> ModelFault:
        fault = ModelFault(match, error_rate, latency_ms, **kwargs)
        self.arm(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._api.clear()
            self._jobs.clear()
            self._models.clear()

    def armed_services(self) -> set[str]:
        with self._lock:
            return {f.service for f in self._api}

    def take_api_fault(self, service: str, operation: str) -> ApiFault | None:
        with self._lock:
            for fault in self._api:
                if fault.service == service and fault.operation == operation:
                    return self._consume(self._api, fault)
        return None

    def take_job_fault(self, *names: str) -> JobFault | None:
        with self._lock:
            for fault in self._jobs:
                if any(fault.match in name for name in names if name):
                    return self._consume(self._jobs, fault)
        return None

    def take_model_fault(self, *names: str) -> ModelFault | None:
        with self._lock:
            for fault in self._models:
                if any(fault.match in name for name in names if name):
                    return self._consume(self._models, fault)
        return None

    @staticmethod
    def _consume(faults: list, fault):
        fault.count -= 1
        if fault.count == 0:
            faults.remove(fault)
        return fault

    def snapshot(self) -> dict[str, list[dict]]:
        with self._lock:
            return {
                "api": [asdict(f) for f in self._api],
                "jobs": [asdict(f) for f in self._jobs],
                "models": [asdict(f) for f in self._models],
            }
