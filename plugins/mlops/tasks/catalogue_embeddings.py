"""The catalogue_embeddings DAG's Python steps: plan where things are, then the cold-start
neighbours of the month's new items. The embedding itself is `BedrockEmbedDescriptionsOperator`;
the rules (hashing, cache, nearest neighbours) are in include/catalogue."""

from __future__ import annotations

import io
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops.hooks.processed_months import ProcessedMonthsHook
from mlops.hooks.stack_outputs import StackOutputsHook
from mlops.months import months_back
from mlops.tasks.common import read_parquet

ITEMS = "item_features.parquet"
PREFIX = "embeddings"


def locations(bucket: str, model_id: str, dimensions: int, month: str) -> dict[str, str]:
    """Where the cache and the month's outputs live: the model's version and size name the prefix,
    so a new model or size never reads another's vectors."""
    base = f"s3://{bucket}/{PREFIX}/model={model_id}/dimensions={dimensions}"
    return {
        "cache_uri": f"{base}/cache.parquet",
        "output_uri": f"{base}/month={month}/item_embeddings.parquet",
        "similar_uri": f"{base}/month={month}/cold_start_similar_items.parquet",
    }


def plan(params: dict, month: str, *, aws_conn_id: str) -> dict[str, Any]:
    """The month and the processed months before it (which items are new), and the S3 locations."""
    prep = StackOutputsHook(aws_conn_id=aws_conn_id).get_outputs("preprocessing", required=("OutputBucket",))
    bucket = prep["OutputBucket"]
    window = ProcessedMonthsHook(bucket, aws_conn_id=aws_conn_id).window(
        months_back(month, params["history_months"] + 1, inclusive=True)
    )
    if not window or window[-1]["month"] != month:
        raise ValueError(f"month {month} is not processed: s3://{bucket}/processed/month={month}/")
    for found in window:
        if ITEMS not in found["files"]:
            raise ValueError(f"processed month {found['month']} has no {ITEMS} in its manifest")
    return {
        "month": month,
        "items_uri": window[-1]["files"][ITEMS],
        "items_uris": [w["files"][ITEMS] for w in window],
        "history": [{"month": w["month"], "items_uri": w["files"][ITEMS]} for w in window[:-1]],
        "model_id": params["model_id"],
        "dimensions": int(params["dimensions"]),
        "neighbours": int(params["neighbours"]),
        **locations(bucket, params["model_id"], int(params["dimensions"]), month),
    }


def cold_start(plan: dict, embedded: dict, *, aws_conn_id: str) -> dict[str, Any]:
    """Similar items for the month's new items (first sold this month, in no earlier processed month
    of the window): the nearest established items by description, from the catalogue's embeddings."""
    from include.catalogue import embeddings, neighbours

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    catalogue = read_parquet(s3, embedded["uri"])
    seen_before = {item for h in plan["history"] for item in read_parquet(s3, h["items_uri"])["item_id"]}
    this_month = set(read_parquet(s3, plan["items_uri"])["item_id"])
    is_new = catalogue["item_id"].isin(this_month - seen_before)
    new, established = catalogue[is_new], catalogue[~is_new]
    similar = neighbours.similar_items(
        new["item_id"].to_numpy(),
        embeddings.matrix(new) if len(new) else None,
        established["item_id"].to_numpy(),
        embeddings.matrix(established) if len(established) else None,
        k=plan["neighbours"],
    )
    similar["model_id"], similar["dimensions"], similar["month"] = plan["model_id"], plan["dimensions"], plan["month"]
    bucket, key = S3Hook.parse_s3_url(plan["similar_uri"])
    buffer = io.BytesIO()
    similar.to_parquet(buffer, index=False)
    s3.load_bytes(buffer.getvalue(), key, bucket, replace=True)
    print(
        f"{len(new):,} of {len(this_month):,} items sold in {plan['month']} are new (not sold in "
        f"{', '.join(h['month'] for h in plan['history']) or 'any earlier processed month'}); "
        f"{len(similar):,} neighbours among {len(established):,} established items -> {plan['similar_uri']}"
    )
    return {"uri": plan["similar_uri"], "new_items": len(new), "established_items": len(established)}
