"""The instance metrics SageMaker publishes for every production variant, once a minute.

On AWS each endpoint instance reports `CPUUtilization` (percent, summed over the instance's vCPUs:
0-200 on a 2-vCPU ml.m5.large), `MemoryUtilization` and `DiskUtilization` (percent of the
instance's) in the namespace `/aws/sagemaker/Endpoints`, dimensions `EndpointName` and
`VariantName`; the platform's utilisation alarms read them. Locally an instance is its model-server
process (with its children): CPU from the process's CPU time over the period, memory as its resident
size against the instance type's memory, disk as the usage of the file system its model sits on.
"""

from __future__ import annotations

import logging
import shutil
import threading

import psutil

log = logging.getLogger(__name__)

NAMESPACE = "/aws/sagemaker/Endpoints"
PERIOD_S = 60.0
# Memory (GiB) of the instance types the project names; others count against this machine's memory.
INSTANCE_MEMORY_GIB = {
    "ml.t2.medium": 4,
    "ml.t2.large": 8,
    "ml.m5.large": 8,
    "ml.m5.xlarge": 16,
    "ml.m5.2xlarge": 32,
    "ml.c5.large": 4,
    "ml.c5.xlarge": 8,
    "ml.c5.2xlarge": 16,
    "ml.r5.large": 16,
    "ml.r5.xlarge": 32,
}


def instance_memory_bytes(instance_type: str) -> int:
    gib = INSTANCE_MEMORY_GIB.get(instance_type)
    return gib * 2**30 if gib else psutil.virtual_memory().total


class UtilisationSampler:
    """Samples each InService variant's server every `period` seconds and publishes its metrics."""

    def __init__(self, backend, period: float = PERIOD_S) -> None:
        self.backend, self.period = backend, period
        self._processes: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="endpoint-utilisation", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.sample()
            except Exception:
                log.exception("sampling endpoint utilisation failed")

    def _cpu_percent(self, pid: int) -> float:
        """CPU percent of the process tree since the previous sample (0 at the first one)."""
        process = self._processes.get(pid)
        if process is None:
            process = self._processes[pid] = psutil.Process(pid)
            process.cpu_percent(None)
            for child in process.children(recursive=True):
                child.cpu_percent(None)
            return 0.0
        return process.cpu_percent(None) + sum(c.cpu_percent(None) for c in process.children(recursive=True))

    def measure(self, variant) -> dict[str, float] | None:
        pid = variant.server.process.pid if variant.server.process is not None else None
        if pid is None:
            return None
        try:
            cpu = self._cpu_percent(pid)
            tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree)
        except psutil.Error:
            return None
        disk = shutil.disk_usage(variant.server.workdir if variant.server.workdir.exists() else "/")
        return {
            "CPUUtilization": cpu,
            "MemoryUtilization": 100.0 * rss / instance_memory_bytes(variant.instance_type),
            "DiskUtilization": 100.0 * disk.used / disk.total,
        }

    def sample(self) -> int:
        """Publish one datapoint per metric and InService variant; returns how many variants."""
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.utils import utcnow

        with self.backend._lock:
            endpoints = [e for e in self.backend.endpoints.values() if e.status == "InService"]
            variants = [(e.name, v) for e in endpoints for v in e.variants.values()]
        now, data = utcnow(), []
        for endpoint, variant in variants:
            figures = self.measure(variant)
            if figures is None:
                continue
            dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant.name}]
            data.extend(
                {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": "Percent", "Timestamp": now}
                for name, value in figures.items()
            )
        if data:
            cloudwatch_backends[self.backend.account_id][self.backend.region].put_metric_data(NAMESPACE, data)
        return len(data) // 3
