"""Offline metrics computed the way Amazon Personalize reports them, so both paths compare.

For each holdout user: the ground truth is the set of items they bought in the holdout; the model
ranks the whole catalogue (previously bought items included, as Personalize does by default).
precision@K = hits in the top K / K; NDCG@K with binary relevance, normalised by the ideal ranking
of min(K, |truth|) hits; MRR@25 = 1 / rank of the first hit within 25 (0 if none); coverage = the
share of the catalogue that appears in anyone's top 25.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

KS = (5, 10, 25)
COVERAGE_K = 25


def evaluate(recommend: Callable[[np.ndarray, int], np.ndarray], truth: dict[int, set[int]], n_items: int) -> dict:
    """`recommend(user_indices, k)` returns a (users x k) array of item indices, best first."""
    if not truth:
        raise ValueError("no holdout user is known to the model: nothing to evaluate")
    users = np.array(sorted(truth), dtype=np.int64)
    top = recommend(users, max(*KS, COVERAGE_K))
    discounts = 1.0 / np.log2(np.arange(2, max(KS) + 2))
    sums = {f"precision_at_{k}": 0.0 for k in KS} | {f"ndcg_at_{k}": 0.0 for k in KS} | {"mrr_at_25": 0.0}
    for row, user in zip(top, users, strict=True):
        relevant = truth[int(user)]
        hits = np.fromiter((item in relevant for item in row[: max(KS)]), dtype=bool, count=max(KS))
        for k in KS:
            sums[f"precision_at_{k}"] += hits[:k].sum() / k
            ideal = discounts[: min(k, len(relevant))].sum()
            sums[f"ndcg_at_{k}"] += (discounts[:k][hits[:k]].sum() / ideal) if ideal else 0.0
        first = np.flatnonzero(hits[:25])
        sums["mrr_at_25"] += 1.0 / (first[0] + 1) if len(first) else 0.0
    result = {name: round(total / len(users), 6) for name, total in sums.items()}
    result["coverage"] = round(len(np.unique(top[:, :COVERAGE_K])) / n_items, 6)
    result["users_evaluated"] = len(users)
    return result
