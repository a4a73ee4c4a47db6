"""Embed the catalogue's item descriptions with Bedrock, paying only for texts never embedded.

Reads item features (Parquet files with `item_id`, `description`; the newest last, whose
description wins for an item found in several) from S3, looks every
description's sha256 up in the embeddings cache (one Parquet object per model version and size,
`cache_uri`), sends only the missing texts to Bedrock in batches of `batch_size` (bounded
concurrency inside each), writes the cache after every batch (an interrupted run keeps what it
paid for), and writes the month's item embeddings, with the model's id, size and the month, to
`output_uri`: the catalogue as of that month. A rerun with unchanged descriptions calls Bedrock 0 times.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from mlops.hooks.bedrock import TextEmbeddingsHook


class BedrockEmbedDescriptionsOperator(AwsBaseOperator[TextEmbeddingsHook]):
    """
    :param items_uris: s3:// URIs of Parquet files with `item_id` and `description` columns, oldest first
    :param cache_uri: s3:// URI of the embeddings cache for this model and size (created if absent)
    :param output_uri: s3:// URI the month's item embeddings are written to
    :param month: the month the items are from (stored with the embeddings)
    :param model_id: Bedrock model id (Titan Text Embeddings V2)
    :param dimensions: 256, 512 or 1024
    :param max_concurrency: InvokeModel requests in flight at once
    :param batch_size: texts embedded between two writes of the cache
    """

    aws_hook_class = TextEmbeddingsHook
    template_fields: Sequence[str] = aws_template_fields(
        "items_uris", "cache_uri", "output_uri", "month", "model_id", "dimensions", "max_concurrency"
    )
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        items_uris: list[str] | str,
        cache_uri: str,
        output_uri: str,
        month: str,
        model_id: str = "amazon.titan-embed-text-v2:0",
        dimensions: int | str = 256,
        max_concurrency: int | str = 4,
        batch_size: int = 500,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.items_uris = items_uris
        self.cache_uri = cache_uri
        self.output_uri = output_uri
        self.month = month
        self.model_id = model_id
        self.dimensions = dimensions
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size

    def _s3(self) -> S3Hook:
        return S3Hook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )

    @staticmethod
    def _read(s3: S3Hook, uri: str):
        import pandas as pd

        bucket, key = S3Hook.parse_s3_url(uri)
        return pd.read_parquet(io.BytesIO(s3.get_key(key, bucket).get()["Body"].read()))

    @staticmethod
    def _write(s3: S3Hook, frame, uri: str) -> None:
        bucket, key = S3Hook.parse_s3_url(uri)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        s3.load_bytes(buffer.getvalue(), key, bucket, replace=True)

    def execute(self, context) -> dict:
        import pandas as pd

        from include.catalogue import embeddings

        dimensions, concurrency = int(self.dimensions), int(self.max_concurrency)
        s3 = self._s3()
        uris = [self.items_uris] if isinstance(self.items_uris, str) else list(self.items_uris)
        if not uris:
            raise ValueError("no item features to embed: items_uris is empty")
        parts = []
        for uri in uris:
            part = self._read(s3, uri)
            absent = {"item_id", "description"} - set(part.columns)
            if absent:
                raise ValueError(f"{uri} has no column(s) {sorted(absent)}: expected item features")
            parts.append(part[["item_id", "description"]])
        items = pd.concat(parts, ignore_index=True)
        texts = embeddings.descriptions(items)
        cache_bucket, cache_key = S3Hook.parse_s3_url(self.cache_uri)
        cache = (
            self._read(s3, self.cache_uri) if s3.check_for_key(cache_key, cache_bucket) else embeddings.empty_cache()
        )
        todo = embeddings.missing(texts, cache)
        self.log.info(
            "%d items, %d distinct descriptions; %d cached, %d to embed with %s (%d dimensions, %d in flight)",
            len(items),
            texts["sha256"].nunique(),
            texts["sha256"].nunique() - len(todo),
            len(todo),
            self.model_id,
            dimensions,
            concurrency,
        )
        tokens = 0
        for start in range(0, len(todo), self.batch_size):
            batch = todo.iloc[start : start + self.batch_size]
            answers = self.hook.embed_many(self.model_id, list(batch["description"]), dimensions, concurrency)
            tokens += sum(count for _, count in answers)
            rows = [
                {"sha256": digest, "embedding": vector.tolist(), "input_tokens": count}
                for digest, (vector, count) in zip(batch["sha256"], answers, strict=True)
            ]
            cache = embeddings.merge_cache(cache, rows)
            self._write(s3, cache, self.cache_uri)
            self.log.info("embedded %d/%d (%d input tokens so far)", start + len(batch), len(todo), tokens)
        stored = embeddings.item_embeddings(texts, cache, self.month, dimensions)
        self._write(s3, stored, self.output_uri)
        return {
            "uri": self.output_uri,
            "items": len(stored),
            "embedded": len(todo),
            "cached": int(texts["sha256"].nunique() - len(todo)),
            "input_tokens": tokens,
            "model_id": self.model_id,
            "dimensions": dimensions,
        }
