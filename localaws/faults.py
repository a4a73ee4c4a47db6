"""Fault injection: make the next N calls of an API fail, or the next N jobs exit non-zero.

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


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._api: list[ApiFault] = []
        self._jobs: list[JobFault] = []

    def arm(self, fault: ApiFault | JobFault) -> None:
        with self._lock:
            (self._api if isinstance(fault, ApiFault) else self._jobs).append(fault)

    def arm_api(self, service: str, operation: str, error_code: str = "ThrottlingException", **kwargs) -> ApiFault:
        fault = ApiFault(service, operation, error_code, **kwargs)
        self.arm(fault)
        return fault

    def arm_job(self, match: str, exit_code: int = 1, **kwargs) -> JobFault:
        fault = JobFault(match, exit_code, **kwargs)
        self.arm(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._api.clear()
            self._jobs.clear()

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

    @staticmethod
    def _consume(faults: list, fault):
        fault.count -= 1
        if fault.count == 0:
            faults.remove(fault)
        return fault

    def snapshot(self) -> dict[str, list[dict]]:
        with self._lock:
            return {"api": [asdict(f) for f in self._api], "jobs": [asdict(f) for f in self._jobs]}
