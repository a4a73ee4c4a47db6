"""Embed the catalogue's descriptions with Amazon Bedrock; cold-start neighbours for new items."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import PROCESSED_MONTH
from mlops.operators.bedrock import BedrockEmbedDescriptionsOperator
from mlops.params import month_param
from mlops.settings import AWS_CONN_ID, EMBEDDING_DIMENSIONS, EMBEDDING_MODEL_ID

DOC = """
### Catalogue embeddings
Runs when a month has been preprocessed (the `online_retail_processed_month` Asset) or by hand.
Items nobody has bought yet have no signal but their free-text description.

1. **plan** - the month, the processed months before it (`history_months`), their item features,
   and where the embeddings live: `s3://<output bucket>/embeddings/model=<id>/dimensions=<n>/`.
2. **embed** - Titan Text Embeddings V2 (`bedrock-runtime` InvokeModel) of every description of
   the window, `max_concurrency` requests in flight, throttling retried with backoff by botocore's
   adaptive mode; cached by the description's sha256 (`cache.parquet`), so a rerun or the next
   month pays only for new descriptions; the catalogue's embeddings with the model's id, size
   and the month to `month=YYYY-MM/item_embeddings.parquet`.
3. **cold_start** - for each item first sold this month, its `neighbours` nearest established
   items by description (cosine) to `month=YYYY-MM/cold_start_similar_items.parquet`.
"""


@dag(
    dag_id="catalogue_embeddings",
    schedule=[PROCESSED_MONTH],
    start_date=pendulum.datetime(2011, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["bedrock", "embeddings", "cold-start"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
    },
    params={
        "month": month_param(
            "The month whose new items need neighbours; empty: the Asset event's month, else the month before the run.",
        ),
        "model_id": Param(EMBEDDING_MODEL_ID, enum=[EMBEDDING_MODEL_ID], title="Bedrock embedding model"),
        "dimensions": Param(EMBEDDING_DIMENSIONS, enum=[256, 512, 1024], title="Embedding dimensions"),
        "history_months": Param(
            12, type="integer", minimum=0, maximum=24, title="Earlier months that make an item established"
        ),
        "neighbours": Param(10, type="integer", minimum=1, maximum=100, title="Similar items per new item"),
        "max_concurrency": Param(4, type="integer", minimum=1, maximum=32, title="Bedrock requests in flight"),
    },
)
def catalogue_embeddings():
    @task(execution_timeout=timedelta(minutes=5), multiple_outputs=True)
    def plan(params=None, dag_run=None, triggering_asset_events=None) -> dict:
        from mlops.months import resolve_month
        from mlops.tasks import catalogue_embeddings as steps

        month = resolve_month(params, dag_run, triggering_asset_events, PROCESSED_MONTH)
        return steps.plan(params, month, aws_conn_id=AWS_CONN_ID)

    @task(execution_timeout=timedelta(minutes=15))
    def cold_start(plan: dict, embedded: dict) -> dict:
        from mlops.tasks import catalogue_embeddings as steps

        return steps.cold_start(plan, embedded, aws_conn_id=AWS_CONN_ID)

    the_plan = plan()
    embed = BedrockEmbedDescriptionsOperator(
        task_id="embed",
        items_uris=the_plan["items_uris"],
        cache_uri=the_plan["cache_uri"],
        output_uri=the_plan["output_uri"],
        month=the_plan["month"],
        model_id=the_plan["model_id"],
        dimensions=the_plan["dimensions"],
        max_concurrency="{{ params.max_concurrency }}",
        aws_conn_id=AWS_CONN_ID,
        execution_timeout=timedelta(hours=2),
    )
    cold_start(the_plan, embed.output)


catalogue_embeddings()
