"""Titan Text Embeddings V2 requests and answers, and the cache that keeps reruns from paying twice.

An embedding is a function of (model, dimensions, normalisation, text): the cache is keyed by the
sha256 of the text within one model version and size (its S3 key names them), so a description
seen in any earlier month, or by an earlier attempt, is never sent again; only new texts are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

MODEL_ID = "amazon.titan-embed-text-v2:0"
DIMENSIONS = (256, 512, 1024)
CACHE_COLUMNS = ("sha256", "embedding", "input_tokens")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_body(text: str, dimensions: int, normalize: bool = True) -> str:
    """Titan V2's InvokeModel body; a clear error for what Bedrock would refuse anyway."""
    if dimensions not in DIMENSIONS:
        raise ValueError(f"dimensions must be one of {DIMENSIONS} for {MODEL_ID}, not {dimensions}")
    if not text or not text.strip():
        raise ValueError("an empty description has no embedding: drop it before embedding")
    return json.dumps({"inputText": text, "dimensions": dimensions, "normalize": normalize})


def parse_answer(body: bytes | str, dimensions: int) -> tuple[np.ndarray, int]:
    """(embedding, input token count) from Titan V2's answer, checked against the size asked for."""
    answer = json.loads(body)
    vector = np.asarray(answer["embedding"], dtype=np.float32)
    if vector.shape != (dimensions,):
        raise ValueError(f"{MODEL_ID} answered {vector.shape[0]} dimensions, asked for {dimensions}")
    return vector, int(answer["inputTextTokenCount"])


def descriptions(items: pd.DataFrame) -> pd.DataFrame:
    """item_id, description, sha256 of the items with a description (trimmed, non-empty)."""
    frame = items[["item_id", "description"]].copy()
    frame["description"] = frame["description"].astype("string").str.strip()
    frame = frame[frame["description"].fillna("").str.len() > 0]
    frame = frame.drop_duplicates("item_id", keep="last").reset_index(drop=True)
    frame["sha256"] = [text_hash(t) for t in frame["description"]]
    return frame


def missing(texts: pd.DataFrame, cache: pd.DataFrame) -> pd.DataFrame:
    """The distinct (sha256, description) pairs of `texts` the cache lacks: what Bedrock must embed."""
    known = set(cache["sha256"]) if len(cache) else set()
    wanted = texts.drop_duplicates("sha256")
    return wanted[~wanted["sha256"].isin(known)][["sha256", "description"]].reset_index(drop=True)


def merge_cache(cache: pd.DataFrame, new: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The cache with the new rows (sha256, embedding, input_tokens) added; one row per hash."""
    added = pd.DataFrame(list(new), columns=list(CACHE_COLUMNS))
    merged = pd.concat([cache, added], ignore_index=True) if len(cache) else added
    return merged.drop_duplicates("sha256", keep="first").sort_values("sha256").reset_index(drop=True)


def empty_cache() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CACHE_COLUMNS})


def item_embeddings(texts: pd.DataFrame, cache: pd.DataFrame, month: str, dimensions: int) -> pd.DataFrame:
    """Every item's embedding, with the model's id, its size and the month: the stored data set."""
    joined = texts.merge(cache, on="sha256", how="left", validate="many_to_one")
    absent = joined["embedding"].isna()
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} descriptions have no embedding in the cache, "
            f"e.g. {joined[absent].description.iloc[0]!r}"
        )
    joined["model_id"], joined["dimensions"], joined["month"] = MODEL_ID, dimensions, month
    return joined[["item_id", "description", "sha256", "embedding", "input_tokens", "model_id", "dimensions", "month"]]


def matrix(frame: pd.DataFrame) -> np.ndarray:
    """(n, dimensions) float32 rows of unit length from an `embedding` column."""
    rows = np.vstack([np.asarray(v, dtype=np.float32) for v in frame["embedding"]])
    lengths = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(lengths > 0, lengths, 1)
