"""catalogue_embeddings end to end on the local stack, as the deployer role: real months' item
descriptions embedded through bedrock-runtime InvokeModel (throttling retried), stored with the
model's id and size, cold-start neighbours for October's new items; a rerun calls Bedrock 0 times."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from tests.dags.conftest import land_and_preprocess, load_dag, states

pytestmark = pytest.mark.slow
MONTHS = ("2011-09", "2011-10")
MODEL = "amazon.titan-embed-text-v2:0"


@pytest.fixture
def dag():
    found = load_dag("catalogue_embeddings")
    for task in found.tasks:
        task.retries = 0
    return found


@pytest.fixture(scope="module")
def processed(platform, stack, airflow_db):
    land_and_preprocess(stack, platform, MONTHS, drop_prefix="embeddings", fit_until="2011-09", fit_window=1)
    return platform


def read(stack, uri: str) -> pd.DataFrame:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return pd.read_parquet(io.BytesIO(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))


def items_uri(stack, bucket: str, month: str) -> str:
    """The month's item features, as its live manifest names them."""
    manifest = stack.client("s3").get_object(Bucket=bucket, Key=f"processed/month={month}/_manifest.json")
    return json.loads(manifest["Body"].read())["files"]["item_features.parquet"]


def test_embeds_once_then_only_from_the_cache_and_finds_neighbours(dag, processed, stack, aws_conn):
    bedrock = stack.backend("bedrock-runtime", "123456789012", "us-east-1")
    before = bedrock.invocations[MODEL]
    # Bedrock throttles the first calls: botocore's adaptive retries carry the step through
    stack.faults.arm_api("bedrock-runtime", "InvokeModel", "ThrottlingException", count=3)
    assert stack.faults.armed_services() >= {"bedrock-runtime"}
    conf = {"month": "2011-10", "history_months": 1, "dimensions": 256, "max_concurrency": 4}
    first = dag.test(run_conf=conf)
    assert first.state == "success", states(first)
    assert "bedrock-runtime" not in stack.faults.armed_services()  # the three throttles were answered
    bucket = processed["OutputBucket"]
    base = f"s3://{bucket}/embeddings/model={MODEL}/dimensions=256"
    catalogue = read(stack, f"{base}/month=2011-10/item_embeddings.parquet")
    cache = read(stack, f"{base}/cache.parquet")
    distinct = catalogue["sha256"].nunique()
    assert bedrock.invocations[MODEL] - before == distinct == len(cache)  # one call per distinct description
    assert set(catalogue["model_id"]) == {MODEL} and set(catalogue["dimensions"]) == {256}
    assert set(catalogue["month"]) == {"2011-10"}
    vectors = np.vstack(catalogue["embedding"].to_numpy())
    assert vectors.shape == (len(catalogue), 256) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    september, october = (set(read(stack, items_uri(stack, bucket, m))["item_id"]) for m in MONTHS)
    assert set(catalogue["item_id"]) <= september | october and len(catalogue) > 0.9 * len(september | october)

    similar = read(stack, f"{base}/month=2011-10/cold_start_similar_items.parquet")
    new = (october - september) & set(catalogue["item_id"])  # first sold in October, with a description
    assert set(similar["item_id"]) == new and len(new) > 50
    assert set(similar["similar_item_id"]) <= september  # neighbours are established items
    assert similar.groupby("item_id").size().eq(10).all()
    assert similar.groupby("item_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()

    calls = bedrock.invocations[MODEL]
    again = dag.test(run_conf=conf)
    assert again.state == "success", states(again)
    assert bedrock.invocations[MODEL] == calls  # unchanged descriptions: Bedrock is not called at all
    assert read(stack, f"{base}/cache.parquet").equals(cache)
