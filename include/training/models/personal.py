"""Personal popularity: each customer's own most-bought items first, then global popularity.

The baseline a reviewer tries first on repeat buyers (Li et al., "A Next Basket Recommendation
Reality Check", 2023: P-TopFreq). `personal_popularity` ranks a customer's items by purchase lines;
`recency_popularity` weighs each line by 0.5 ** (age / half_life_days) before summing, so recent
habits count more. Both are profiles (artifact.py) over a tie-breaking popularity bias.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from include.training.artifact import ScoringModel
from include.training.data import Dataset

# Bought items score OFFSET + their own score; the popularity bias stays below BIAS_SCALE < OFFSET,
# so every bought item ranks above every item the customer never bought.
OFFSET, BIAS_SCALE = 1.0, 1e-3
DAY = 86_400.0


def profile_model(kind: str, data: Dataset, matrix: sp.spmatrix, hyperparameters: dict) -> ScoringModel:
    """A profile model: `matrix` (users x items, >= 0, zero = not a candidate) over popularity."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    csr.eliminate_zeros()
    csr.sort_indices()
    popularity = data.popularity
    bias = BIAS_SCALE * popularity / (popularity.max() + 1.0) if len(popularity) else popularity
    return ScoringModel(
        kind=kind,
        users=[str(u) for u in data.users],
        items=[str(i) for i in data.items],
        item_factors=np.zeros((len(data.items), 0), np.float32),
        item_bias=bias.astype(np.float32),
        popularity=popularity,
        user_factors=np.zeros((len(data.users), 0), np.float32),
        hyperparameters=hyperparameters,
        profile=(
            (csr.data + OFFSET).astype(np.float32),
            csr.indices.astype(np.int32),
            csr.indptr.astype(np.int64),
        ),
    )


def train(data: Dataset, hp: dict) -> ScoringModel:
    kind = hp["model"]
    if kind == "personal_popularity":
        return profile_model(kind, data, data.train, {"model": kind})
    if data.lines is None:
        raise ValueError(f"{kind} needs the training lines with their timestamps")
    half_life = float(hp.get("half_life_days", 180.0))
    if half_life <= 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life}")
    lines = data.lines
    age = (data.train_end - lines.timestamp.to_numpy()) / DAY
    weights = np.power(0.5, age / half_life)
    matrix = sp.csr_matrix((weights, (lines.user.to_numpy(), lines.item.to_numpy())), shape=data.shape)
    return profile_model(kind, data, matrix, {"model": kind, "half_life_days": half_life})
