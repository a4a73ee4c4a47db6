"""SageMaker endpoint handlers (`model_fn`, `input_fn`, `predict_fn`, `output_fn`) for every model.

Request (application/json): {"user_id": "17850", "num_results": 10, "context": {"country": "France"}}
Response: {"user_id": ..., "items": [...], "scores": [...], "source": "model" | "context" | "popularity",
"model": kind}. An unknown user is not an error: it gets the context-based or popularity ranking.
Shipped inside model.tar.gz as `code/inference.py` with `code/artifact.py`.
"""

from __future__ import annotations

import json
from typing import Any

try:  # inside model.tar.gz, beside artifact.py
    from artifact import ScoringModel  # type: ignore[import-not-found]
except ImportError:  # in the project
    from include.training.artifact import ScoringModel

MAX_RESULTS = 500


class BadRequest(ValueError):
    pass


def model_fn(model_dir: str) -> ScoringModel:
    return ScoringModel.load(model_dir)


def input_fn(body: bytes | str, content_type: str = "application/json") -> dict[str, Any]:
    if content_type.split(";")[0].strip() != "application/json":
        raise BadRequest(f"content type {content_type!r} is not supported: send application/json")
    try:
        request = json.loads(body)
    except (ValueError, TypeError) as err:
        raise BadRequest(f"the body is not JSON: {err}") from err
    if not isinstance(request, dict) or not str(request.get("user_id", "")).strip():
        raise BadRequest('the body needs "user_id"')
    n = request.get("num_results", 10)
    if not isinstance(n, int) or not 1 <= n <= MAX_RESULTS:
        raise BadRequest(f'"num_results" must be an integer in 1..{MAX_RESULTS}')
    context = request.get("context") or {}
    if not isinstance(context, dict):
        raise BadRequest('"context" must be an object')
    return {
        "user_id": str(request["user_id"]).strip(),
        "num_results": n,
        "context": {k: str(v) for k, v in context.items()},
    }


def predict_fn(request: dict[str, Any], model: ScoringModel) -> dict[str, Any]:
    result = model.recommend_for(request["user_id"], request["num_results"], request["context"])
    return {"user_id": request["user_id"], "model": model.kind, **result}


def output_fn(prediction: dict[str, Any], accept: str = "application/json") -> tuple[str, str]:
    return json.dumps(prediction), "application/json"
