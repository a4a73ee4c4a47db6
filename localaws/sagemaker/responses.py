"""The SageMaker training-job operations the local stack runs itself (moto only records them)."""

from __future__ import annotations

from typing import Any

from localaws.registry import handles
from localaws.wire import ApiCall


def _backend(call: ApiCall):
    return call.stack.backend("sagemaker-training", call.account_id, call.region)


@handles("sagemaker", "CreateTrainingJob")
def create_training_job(call: ApiCall) -> dict[str, Any]:
    return {"TrainingJobArn": _backend(call).create(call.params).arn}


@handles("sagemaker", "DescribeTrainingJob")
def describe_training_job(call: ApiCall) -> dict[str, Any]:
    return _backend(call).describe(call.params["TrainingJobName"]).describe()


@handles("sagemaker", "ListTrainingJobs")
def list_training_jobs(call: ApiCall) -> dict[str, Any]:
    return {"TrainingJobSummaries": [j.summary() for j in _backend(call).list(call.params)]}


@handles("sagemaker", "StopTrainingJob")
def stop_training_job(call: ApiCall) -> dict[str, Any]:
    _backend(call).stop(call.params["TrainingJobName"])
    return {}


# --- real-time endpoints (models and endpoint configs stay moto's) ---------------------------
def _endpoints(call: ApiCall):
    return call.stack.backend("sagemaker-endpoints", call.account_id, call.region)


@handles("sagemaker", "CreateEndpoint")
def create_endpoint(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).create(call.params).arn}


@handles("sagemaker", "UpdateEndpoint")
def update_endpoint(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).update(call.params).arn}


@handles("sagemaker", "UpdateEndpointWeightsAndCapacities")
def update_endpoint_weights_and_capacities(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).update_weights(call.params).arn}


@handles("sagemaker", "DescribeEndpoint")
def describe_endpoint(call: ApiCall) -> dict[str, Any]:
    return _endpoints(call).describe(call.params["EndpointName"]).describe()


@handles("sagemaker", "ListEndpoints")
def list_endpoints(call: ApiCall) -> dict[str, Any]:
    return {"Endpoints": [e.summary() for e in _endpoints(call).list(call.params)]}


@handles("sagemaker", "DeleteEndpoint")
def delete_endpoint(call: ApiCall) -> dict[str, Any]:
    _endpoints(call).delete(call.params["EndpointName"])
    return {}


@handles("sagemaker-runtime", "InvokeEndpoint")
def invoke_endpoint(call: ApiCall) -> dict[str, Any]:
    return _endpoints(call).invoke(call.params)
