"""Offline metrics computed the way Amazon Personalize reports them, so both paths compare.

For each holdout user: the ground truth is the set of items they bought in the holdout; the model
ranks the whole catalogue (previously bought items included, as Personalize does by default).
precision@K = hits in the top K / K; NDCG@K with binary relevance, normalised by the ideal ranking
of min(K, |truth|) hits; MRR@25 = 1 / rank of the first hit within 25 (0 if none); coverage = the
share of the catalogue that appears in anyone's top 25.

Discovery metrics (`discovery_*`) score what the model adds beyond "buy it again": the truth is
only the holdout items the customer never bought in training, and the customer's bought items
are removed from the ranking before the cut, so a pure repeat list scores what its fallback does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

import numpy as np

KS = (5, 10, 25)
COVERAGE_K = 25


def ranking_metrics(
    rankings: Iterable[tuple[Sequence, Collection]], catalogue_size: int, per_user: list | None = None
) -> dict:
    """The metrics over `(ranked items best first, relevant items)` pairs, one per holdout user.

    The one implementation: `evaluate` (item indices, training and the benchmark) and
    `evaluation.score` (item ids, the registration gate) both rank and hand their lists here.
    `per_user`, when given, receives each user's NDCG@10 in order (for the paired bootstrap).
    """
    depth = max(*KS, COVERAGE_K)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    sums = {f"precision_at_{k}": 0.0 for k in KS} | {f"ndcg_at_{k}": 0.0 for k in KS} | {"mrr_at_25": 0.0}
    shown: set = set()
    users = 0
    for ranked, relevant in rankings:
        users += 1
        top = list(ranked[:depth])
        shown.update(top[:COVERAGE_K])
        hits = np.fromiter((item in relevant for item in top), dtype=bool, count=len(top))
        hits = np.pad(hits, (0, depth - len(top)))
        for k in KS:
            sums[f"precision_at_{k}"] += hits[:k].sum() / k
            ideal = discounts[: min(k, len(relevant))].sum()
            value = (discounts[:k][hits[:k]].sum() / ideal) if ideal else 0.0
            sums[f"ndcg_at_{k}"] += value
            if k == 10 and per_user is not None:
                per_user.append(float(value))
        first = np.flatnonzero(hits[:25])
        sums["mrr_at_25"] += 1.0 / (first[0] + 1) if len(first) else 0.0
    if not users:
        raise ValueError("no holdout user to evaluate on")
    result = {name: round(total / users, 6) for name, total in sums.items()}
    result["coverage"] = round(len(shown) / max(catalogue_size, 1), 6)
    result["users_evaluated"] = users
    return result


def evaluate(recommend: Callable[[np.ndarray, int], np.ndarray], truth: dict[int, set[int]], n_items: int) -> dict:
    """`recommend(user_indices, k)` returns a (users x k) array of item indices, best first."""
    if not truth:
        raise ValueError("no holdout user is known to the model: nothing to evaluate")
    users = np.array(sorted(truth), dtype=np.int64)
    top = recommend(users, max(*KS, COVERAGE_K))
    return ranking_metrics(((row.tolist(), truth[int(user)]) for row, user in zip(top, users, strict=True)), n_items)


def evaluate_discovery(
    recommend: Callable[[np.ndarray, int], np.ndarray], truth: dict[int, set[int]], bought, n_items: int
) -> dict:
    """The metrics on items new to each customer, prefixed `discovery_` (`bought`: users x items CSR)."""
    new = {u: {i for i in items if bought[u, i] == 0} for u, items in truth.items()}
    new = {u: items for u, items in new.items() if items}
    if not new:
        return {"discovery_users_evaluated": 0}
    users = np.array(sorted(new), dtype=np.int64)
    depth = max(*KS, COVERAGE_K)
    seen = {int(u): set(bought[int(u)].indices.tolist()) for u in users}
    k = min(n_items, depth + max(len(s) for s in seen.values()))
    top = recommend(users, k)
    rankings = (
        ([i for i in row.tolist() if i not in seen[int(u)]][:depth], new[int(u)])
        for row, u in zip(top, users, strict=True)
    )
    return {f"discovery_{name}": value for name, value in ranking_metrics(rankings, n_items).items()}
