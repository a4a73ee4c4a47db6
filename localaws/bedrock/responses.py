"""The `bedrock-runtime` operation the local stack serves: InvokeModel (moto has no Bedrock runtime)."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()

SERVICE = "bedrock-runtime"


@operations.handles(SERVICE, "InvokeModel")
def invoke_model(call: ApiCall) -> dict[str, Any]:
    return call.stack.backend(SERVICE, call.account_id, call.region).invoke_model(call.params)
