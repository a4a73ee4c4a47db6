"""The SageMaker real-time endpoint operations the local stack serves itself (models and endpoint
configs stay moto's): CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities,
DescribeEndpoint, ListEndpoints, DeleteEndpoint and sagemaker-runtime's InvokeEndpoint."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()


def _endpoints(call: ApiCall):
    return call.stack.backend("sagemaker-endpoints", call.account_id, call.region)


@operations.handles("sagemaker", "CreateEndpoint")
def create_endpoint(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).create(call.params).arn}


@operations.handles("sagemaker", "UpdateEndpoint")
def update_endpoint(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).update(call.params).arn}


@operations.handles("sagemaker", "UpdateEndpointWeightsAndCapacities")
def update_endpoint_weights_and_capacities(call: ApiCall) -> dict[str, Any]:
    return {"EndpointArn": _endpoints(call).update_weights(call.params).arn}


@operations.handles("sagemaker", "DescribeEndpoint")
def describe_endpoint(call: ApiCall) -> dict[str, Any]:
    return _endpoints(call).describe(call.params["EndpointName"]).describe()


@operations.handles("sagemaker", "ListEndpoints")
def list_endpoints(call: ApiCall) -> dict[str, Any]:
    return {"Endpoints": [e.summary() for e in _endpoints(call).list(call.params)]}


@operations.handles("sagemaker", "DeleteEndpoint")
def delete_endpoint(call: ApiCall) -> dict[str, Any]:
    _endpoints(call).delete(call.params["EndpointName"])
    return {}


@operations.handles("sagemaker-runtime", "InvokeEndpoint")
def invoke_endpoint(call: ApiCall) -> dict[str, Any]:
    return _endpoints(call).invoke(call.params)
