"""Similar items for items nobody has bought before, from their descriptions alone.

A new item has no interactions, so collaborative models cannot place it; its description is all
there is. Its neighbours are the established items whose description embeddings are nearest
(cosine). Used both ways: "similar items" for a new item's page, and, for a customer, the new items
nearest to what they bought (`recommend_new_items`), which `benchmarks/cold_start_items.py`
measures against popularity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores, best first (ties by index)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(-scores, part, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def similar_items(
    new_ids: np.ndarray, new_vectors: np.ndarray, known_ids: np.ndarray, known_vectors: np.ndarray, k: int = 10
) -> pd.DataFrame:
    """item_id, rank, similar_item_id, score: each new item's k nearest established items."""
    if len(new_ids) == 0 or len(known_ids) == 0:
        return pd.DataFrame(columns=["item_id", "rank", "similar_item_id", "score"])
    scores = new_vectors @ known_vectors.T
    best = top_k(scores, k)
    rows = [
        (new_ids[i], rank + 1, known_ids[j], float(scores[i, j]))
        for i in range(len(new_ids))
        for rank, j in enumerate(best[i])
    ]
    return pd.DataFrame(rows, columns=["item_id", "rank", "similar_item_id", "score"])


def user_profiles(history: pd.DataFrame, item_index: pd.Index, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, unit-length mean embedding of the items each bought) for users with a known item."""
    known = history[history["item_id"].isin(item_index)].drop_duplicates(["user_id", "item_id"])
    users = np.array(sorted(known["user_id"].unique()), dtype=object)
    rows = pd.Index(users).get_indexer(known["user_id"])
    cols = item_index.get_indexer(known["item_id"])
    profiles = np.zeros((len(users), vectors.shape[1]), np.float32)
    np.add.at(profiles, rows, vectors[cols])
    lengths = np.linalg.norm(profiles, axis=1, keepdims=True)
    return users, profiles / np.where(lengths > 0, lengths, 1)


def recommend_new_items(profiles: np.ndarray, new_vectors: np.ndarray, k: int) -> np.ndarray:
    """For each user profile, the indices of the k new items nearest to it."""
    return top_k(profiles @ new_vectors.T, k)
