"""Bedrock text embeddings (Titan Text Embeddings V2) through the provider's `BedrockRuntimeHook`.

InvokeModel embeds one text a call, so a catalogue is embedded from a small thread pool (boto3
clients are thread-safe): `max_concurrency` bounds the requests in flight, under the account's
tokens-per-minute quota. Throttling (`ThrottlingException`, which Bedrock answers when that quota
is used up) is retried by botocore's adaptive mode (`mlops.hooks.retries`): jittered exponential
backoff, and the client slows its own sending rate, instead of a loop of ours around the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from airflow.providers.amazon.aws.hooks.bedrock import BedrockRuntimeHook
from botocore.config import Config

from mlops.hooks.retries import with_retries

if TYPE_CHECKING:
    import numpy as np


class TextEmbeddingsHook(BedrockRuntimeHook):
    def __init__(self, *args, max_attempts: int = 10, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_attempts = max_attempts

    @property
    def config(self) -> Config:
        return with_retries(super().config, "adaptive", self.max_attempts)

    def embed(self, model_id: str, text: str, dimensions: int, normalize: bool = True) -> tuple[np.ndarray, int]:
        """(embedding, input tokens) of one text."""
        from include.catalogue.embeddings import parse_answer, request_body

        answer = self.conn.invoke_model(
            modelId=model_id,
            body=request_body(text, dimensions, normalize),
            contentType="application/json",
            accept="application/json",
        )
        return parse_answer(answer["body"].read(), dimensions)

    def embed_many(
        self, model_id: str, texts: Sequence[str], dimensions: int, max_concurrency: int = 4
    ) -> list[tuple[np.ndarray, int]]:
        """Embeddings of `texts`, in their order; at most `max_concurrency` requests in flight."""
        _ = self.conn  # the client is created once, here, before the threads share it
        with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="bedrock") as pool:
            return list(pool.map(lambda text: self.embed(model_id, text, dimensions), texts))
