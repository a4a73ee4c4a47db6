"""The `sagemaker-featurestore-runtime` operations the local stack serves (moto has none)."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, AwsError, Operations

operations = Operations()

SERVICE = "sagemaker-featurestore-runtime"


def _backend(call: ApiCall):
    return call.stack.backend(SERVICE, call.account_id, call.region)


@operations.handles(SERVICE, "PutRecord")
def put_record(call: ApiCall) -> dict[str, Any]:
    p = call.params
    _backend(call).put_record(p["FeatureGroupName"], p["Record"], p.get("TargetStores"))
    return {}


@operations.handles(SERVICE, "GetRecord")
def get_record(call: ApiCall) -> dict[str, Any]:
    p = call.params
    record = _backend(call).get_record(p["FeatureGroupName"], p["RecordIdentifierValueAsString"], p.get("FeatureNames"))
    return {"Record": record} if record is not None else {}


@operations.handles(SERVICE, "BatchGetRecord")
def batch_get_record(call: ApiCall) -> dict[str, Any]:
    backend = _backend(call)
    records, errors, unprocessed = [], [], []
    identifiers = call.params["Identifiers"]
    # the service model's bounds, which botocore checks only from below
    if len(identifiers) > 100 or any(len(i["RecordIdentifiersValueAsString"]) > 100 for i in identifiers):
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value at 'identifiers' failed to satisfy constraint: "
            "Member must have length less than or equal to 100",
            400,
        )
    for identifier in identifiers:
        for value in identifier["RecordIdentifiersValueAsString"]:
            record = backend.get_record(identifier["FeatureGroupName"], value, identifier.get("FeatureNames"))
            if record is not None:
                records.append(
                    {
                        "FeatureGroupName": identifier["FeatureGroupName"],
                        "RecordIdentifierValueAsString": value,
                        "Record": record,
                    }
                )
    return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": unprocessed}


@operations.handles(SERVICE, "DeleteRecord")
def delete_record(call: ApiCall) -> dict[str, Any]:
    p = call.params
    _backend(call).delete_record(p["FeatureGroupName"], p["RecordIdentifierValueAsString"])
    return {}
