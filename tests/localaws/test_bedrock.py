"""bedrock-runtime InvokeModel for Titan Text Embeddings V2 on the local stack: Bedrock's request
and response shapes, its dimensions and normalisation, its ValidationException wire format, and
IAM enforced on the model's ARN (WordLlama standing in for Titan, loaded from its wheel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.localaws.test_iam_enforcement import client_for, denied, session

MODEL = "amazon.titan-embed-text-v2:0"
MODEL_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL}"


def invoke(client, body, model: str = MODEL) -> dict:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    answer = client.invoke_model(modelId=model, body=raw, contentType="application/json", accept="application/json")
    assert answer["contentType"] == "application/json"
    return json.loads(answer["body"].read())


@pytest.fixture(scope="module")
def runtime(stack):
    return stack.client("bedrock-runtime")


def test_the_answer_has_titans_shape_default_dimensions_and_unit_length(runtime):
    answer = invoke(runtime, {"inputText": "WHITE HANGING HEART T-LIGHT HOLDER"})
    assert set(answer) == {"embedding", "inputTextTokenCount", "embeddingsByType"}
    vector = np.array(answer["embedding"])
    assert vector.shape == (1024,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-5
    assert answer["embeddingsByType"] == {"float": answer["embedding"]}
    assert isinstance(answer["inputTextTokenCount"], int) and answer["inputTextTokenCount"] > 3


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_each_allowed_dimension_keeps_the_texts_similarities(runtime, dimensions):
    texts = ["WHITE HANGING HEART T-LIGHT HOLDER", "RED HANGING HEART T-LIGHT HOLDER", "REGENCY CAKESTAND 3 TIER"]
    vectors = [np.array(invoke(runtime, {"inputText": t, "dimensions": dimensions})["embedding"]) for t in texts]
    assert all(v.shape == (dimensions,) for v in vectors)
    # the two heart holders are nearer each other than either is to the cake stand, in every size
    assert vectors[0] @ vectors[1] > max(vectors[0] @ vectors[2], vectors[1] @ vectors[2])
    base = [np.array(invoke(runtime, {"inputText": t, "dimensions": 256})["embedding"]) for t in texts]
    assert vectors[0] @ vectors[1] == pytest.approx(base[0] @ base[1], abs=1e-5)


def test_normalize_false_returns_the_raw_vector_and_binary_on_request(runtime, stack):
    raw = invoke(runtime, {"inputText": "PACK OF 72 RETROSPOT CAKE CASES", "normalize": False, "dimensions": 512})
    unit = invoke(runtime, {"inputText": "PACK OF 72 RETROSPOT CAKE CASES", "dimensions": 512})
    raw_v, unit_v = np.array(raw["embedding"]), np.array(unit["embedding"])
    assert abs(np.linalg.norm(raw_v) - 1) > 0.05
    assert np.allclose(raw_v / np.linalg.norm(raw_v), unit_v, atol=1e-5)
    both = {"inputText": "PACK OF 72 RETROSPOT CAKE CASES", "dimensions": 256, "embeddingTypes": ["float", "binary"]}
    both = invoke(runtime, both)
    assert both["embeddingsByType"]["binary"] == [int(x > 0) for x in both["embedding"]]
    by_arn = invoke(runtime, {"inputText": "PACK OF 72 RETROSPOT CAKE CASES", "dimensions": 512}, model=MODEL_ARN)
    assert by_arn["embedding"] == unit["embedding"]  # deterministic, and the ARN names the same model


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputText": "x", "dimensions": 300}, "#/dimensions: 300 is not a valid enum value"),
        ({"text": "x"}, "2 schema violations found"),
        ({"dimensions": 256}, "#: required key [inputText] not found"),
        ({"inputText": "x", "normalize": "yes"}, "#/normalize: expected type: Boolean, found: String"),
        ({"inputText": ""}, "#/inputText: expected minLength: 1, actual: 0"),
        (b"not json", "Malformed input request, please"),
    ],
)
def test_a_malformed_body_is_bedrocks_validation_exception(runtime, body, message):
    error = denied(lambda: invoke(runtime, body))
    assert error["Code"] == "ValidationException" and error["Status"] == 400
    assert message in error["Message"] and error["Message"].startswith("Malformed input request")


def test_too_many_tokens_and_unknown_models_are_refused(runtime):
    many_tokens = "cake " * 9000  # 45,000 characters (under the limit), about 9,000 tokens
    error = denied(lambda: invoke(runtime, {"inputText": many_tokens}))
    assert error["Code"] == "ValidationException"
    assert "Too many input tokens. Max input tokens: 8192" in error["Message"]
    error = denied(lambda: invoke(runtime, {"inputText": "x" * 50_001}))
    assert error["Code"] == "ValidationException" and "Max input characters: 50000" in error["Message"]
    error = denied(lambda: invoke(runtime, {"inputText": "x"}, model="amazon.titan-embed-text-v9:0"))
    assert error["Code"] == "ValidationException" and error["Message"] == "The provided model identifier is invalid."


def test_iam_allows_the_granted_model_only_and_denies_with_bedrocks_error(stack):
    granted = [{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": MODEL_ARN}]
    _, credentials = session(stack, granted)
    client = client_for(stack, "bedrock-runtime", credentials)
    assert len(invoke(client, {"inputText": "x", "dimensions": 256})["embedding"]) == 256
    other = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1"
    error = denied(lambda: invoke(client, {"inputText": "x"}, model=other))
    assert error["Code"] == "AccessDeniedException" and error["Status"] == 403
    assert "bedrock:InvokeModel" in error["Message"] and other in error["Message"]
    _, nothing = session(stack, [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}])
    error = denied(lambda: invoke(client_for(stack, "bedrock-runtime", nothing), {"inputText": "x"}))
    assert error["Code"] == "AccessDeniedException" and MODEL_ARN in error["Message"]


def test_calls_are_counted_per_model(stack, runtime):
    backend = stack.backend("bedrock-runtime", "123456789012", "us-east-1")
    before = backend.invocations[MODEL]
    invoke(runtime, {"inputText": "JUMBO BAG RED RETROSPOT"})
    assert backend.invocations[MODEL] == before + 1
    with pytest.raises(ClientError):
        invoke(runtime, {"inputText": "x", "dimensions": 3})
    assert backend.invocations[MODEL] == before + 1  # a refused request is not an invocation
