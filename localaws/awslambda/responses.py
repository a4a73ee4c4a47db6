"""Lambda's Invoke answered by the local runner (`models.LambdaBackend`); every other Lambda operation
stays moto's. The same environments serve API Gateway's proxy integration."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()


def _functions(call: ApiCall):
    return call.stack.backend("lambda", call.account_id, call.region)


@operations.handles("lambda", "Invoke")
def invoke(call: ApiCall) -> dict[str, Any]:
    params = call.params
    backend = _functions(call)
    payload = params.get("Payload") or b""
    if isinstance(payload, str):
        payload = payload.encode()
    kind = params.get("InvocationType", "RequestResponse")
    if kind == "DryRun":
        backend.function(params["FunctionName"], params.get("Qualifier"))
        return {"StatusCode": 204}
    if kind == "Event":
        backend.invoke_in_background(params["FunctionName"], payload, params.get("Qualifier"))
        return {"StatusCode": 202}
    result = backend.invoke(
        params["FunctionName"], payload, params.get("Qualifier"), tail=params.get("LogType") == "Tail"
    )
    answer: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": "$LATEST"}
    if result.function_error:
        answer["FunctionError"] = result.function_error
    if result.log_tail:
        answer["LogResult"] = result.log_tail
    return answer
