"""Bedrock's InvokeModel for Titan Text Embeddings V2, validated as Bedrock validates it.

The request body is the model's JSON (`inputText`, optional `dimensions` 1024 (default) / 512 /
256, `normalize` (default true), `embeddingTypes` "float" and/or "binary"); the answer is
`{"embedding", "inputTextTokenCount", "embeddingsByType"}`. A body that breaks the model's schema
is refused with Bedrock's `ValidationException` and its "Malformed input request: ..." message
(one violation named, or their count); more than 8,192 tokens or 50,000 characters are refused
as "Too many input tokens"; any other model id is "The provided model identifier is invalid."
The vectors come from `embedder` (WordLlama standing in for Titan); the backend counts calls per
model, which is how tests see that a cached rerun does not call the model.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from localaws.backends import AccountBackend
from localaws.wire import AwsError

TITAN_EMBED_V2 = "amazon.titan-embed-text-v2:0"
DIMENSIONS = (1024, 512, 256)
MAX_TOKENS = 8192
MAX_CHARACTERS = 50_000
EMBEDDING_TYPES = ("float", "binary")
_KEYS = ("inputText", "dimensions", "normalize", "embeddingTypes")
_JSON_TYPES = {str: "String", bool: "Boolean", int: "Integer", float: "Number", list: "JSONArray", dict: "JSONObject"}


def _malformed(violations: list[str]) -> AwsError:
    detail = violations[0] if len(violations) == 1 else f"{len(violations)} schema violations found"
    message = f"Malformed input request: {detail}, please reformat your input and try again."
    return AwsError("ValidationException", message, 400)


def _type_name(value: Any) -> str:
    return "Null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def model_id_of(model_id: str, region: str) -> str | None:
    """The foundation model a modelId names (its id, or its ARN in this region); None otherwise."""
    if model_id == TITAN_EMBED_V2 or model_id == f"arn:aws:bedrock:{region}::foundation-model/{TITAN_EMBED_V2}":
        return TITAN_EMBED_V2
    return None


def parse_request(body: bytes) -> dict[str, Any]:
    """The request's fields with defaults applied; ValidationException as Bedrock words it."""
    try:
        request = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise AwsError(
            "ValidationException", "Malformed input request, please reformat your input and try again.", 400
        ) from None
    if not isinstance(request, dict):
        raise _malformed([f"#: expected type: JSONObject, found: {_type_name(request)}"])
    violations = [f"#: extraneous key [{key}] is not permitted" for key in request if key not in _KEYS]
    text = request.get("inputText")
    if "inputText" not in request:
        violations.append("#: required key [inputText] not found")
    elif not isinstance(text, str):
        violations.append(f"#/inputText: expected type: String, found: {_type_name(text)}")
    elif not text:
        violations.append("#/inputText: expected minLength: 1, actual: 0")
    dimensions = request.get("dimensions", 1024)
    if type(dimensions) is not int:
        violations.append(f"#/dimensions: expected type: Integer, found: {_type_name(dimensions)}")
    elif dimensions not in DIMENSIONS:
        violations.append(f"#/dimensions: {dimensions} is not a valid enum value")
    normalize = request.get("normalize", True)
    if not isinstance(normalize, bool):
        violations.append(f"#/normalize: expected type: Boolean, found: {_type_name(normalize)}")
    types = request.get("embeddingTypes", ["float"])
    if not isinstance(types, list):
        violations.append(f"#/embeddingTypes: expected type: JSONArray, found: {_type_name(types)}")
    else:
        if not types:
            violations.append("#/embeddingTypes: expected minimum item count: 1, found: 0")
        violations += [
            f"#/embeddingTypes/{i}: {json.dumps(t)} is not a valid enum value"
            for i, t in enumerate(types)
            if t not in EMBEDDING_TYPES
        ]
    if violations:
        raise _malformed(violations)
    if len(text) > MAX_CHARACTERS:
        raise AwsError(
            "ValidationException",
            f"400 Bad Request: Too many input characters. Max input characters: {MAX_CHARACTERS}, "
            f"request input character count: {len(text)}",
            400,
        )
    return {"inputText": text, "dimensions": dimensions, "normalize": normalize, "embeddingTypes": types}


class BedrockRuntimeBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.invocations: Counter[str] = Counter()

    def invoke_model(self, params: dict[str, Any]) -> dict[str, Any]:
        from localaws.bedrock import embedder

        model = model_id_of(str(params.get("modelId", "")), self.region)
        if model is None:
            raise AwsError("ValidationException", "The provided model identifier is invalid.", 400)
        content_type = params.get("contentType") or "application/json"
        if content_type.split(";")[0].strip() != "application/json":
            raise AwsError("ValidationException", f"Content type {content_type} is not supported by the model.", 400)
        body = params.get("body", b"")
        request = parse_request(body.encode() if isinstance(body, str) else body)
        tokens = embedder.token_count(request["inputText"])
        if tokens > MAX_TOKENS:
            raise AwsError(
                "ValidationException",
                f"400 Bad Request: Too many input tokens. Max input tokens: {MAX_TOKENS}, "
                f"request input token count: {tokens}",
                400,
            )
        vector = embedder.embed(request["inputText"], request["dimensions"], request["normalize"])
        floats = [float(x) for x in vector]
        by_type: dict[str, list] = {}
        if "float" in request["embeddingTypes"]:
            by_type["float"] = floats
        if "binary" in request["embeddingTypes"]:
            by_type["binary"] = [int(x > 0) for x in vector]
        with self._lock:
            self.invocations[model] += 1
        answer = {"embedding": floats, "inputTextTokenCount": tokens, "embeddingsByType": by_type}
        return {"body": json.dumps(answer).encode(), "contentType": "application/json"}
