"""The SageMaker Processing operations the local stack runs itself (moto only records them)."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()


def _backend(call: ApiCall):
    return call.stack.backend("sagemaker-processing", call.account_id, call.region)


@operations.handles("sagemaker", "CreateProcessingJob")
def create_processing_job(call: ApiCall) -> dict[str, Any]:
    return {"ProcessingJobArn": _backend(call).create(call.params).arn}


@operations.handles("sagemaker", "DescribeProcessingJob")
def describe_processing_job(call: ApiCall) -> dict[str, Any]:
    return _backend(call).describe(call.params["ProcessingJobName"]).describe()


@operations.handles("sagemaker", "ListProcessingJobs")
def list_processing_jobs(call: ApiCall) -> dict[str, Any]:
    return {"ProcessingJobSummaries": [j.summary() for j in _backend(call).list(call.params)]}


@operations.handles("sagemaker", "StopProcessingJob")
def stop_processing_job(call: ApiCall) -> dict[str, Any]:
    _backend(call).stop(call.params["ProcessingJobName"])
    return {}
