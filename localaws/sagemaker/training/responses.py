"""The SageMaker training-job operations the local stack runs itself (moto only records them)."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()


def _backend(call: ApiCall):
    return call.stack.backend("sagemaker-training", call.account_id, call.region)


@operations.handles("sagemaker", "CreateTrainingJob")
def create_training_job(call: ApiCall) -> dict[str, Any]:
    return {"TrainingJobArn": _backend(call).create(call.params).arn}


@operations.handles("sagemaker", "DescribeTrainingJob")
def describe_training_job(call: ApiCall) -> dict[str, Any]:
    return _backend(call).describe(call.params["TrainingJobName"]).describe()


@operations.handles("sagemaker", "ListTrainingJobs")
def list_training_jobs(call: ApiCall) -> dict[str, Any]:
    return {"TrainingJobSummaries": [j.summary() for j in _backend(call).list(call.params)]}


@operations.handles("sagemaker", "StopTrainingJob")
def stop_training_job(call: ApiCall) -> dict[str, Any]:
    _backend(call).stop(call.params["TrainingJobName"])
    return {}
