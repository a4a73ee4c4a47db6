"""One ranking-metrics implementation behind training's `evaluate` and the gate's `score`."""

from __future__ import annotations

import math

import numpy as np

from include.training import evaluation, metrics


def test_ranking_metrics_by_hand():
    ranked = ["a", "b"] + [f"x{i}" for i in range(30)]
    result = metrics.ranking_metrics([(ranked, {"b"})], catalogue_size=40)
    assert result["precision_at_5"] == 0.2 and result["mrr_at_25"] == 0.5
    assert result["ndcg_at_10"] == round(1 / math.log2(3), 6)
    assert result["coverage"] == round(25 / 40, 6) and result["users_evaluated"] == 1


def test_short_rankings_count_as_misses():
    result = metrics.ranking_metrics([(["b"], {"b", "c"})], catalogue_size=3)
    assert result["precision_at_5"] == 0.2 and result["ndcg_at_5"] == round(1 / (1 + 1 / math.log2(3)), 6)


def test_evaluate_and_score_agree_on_the_same_rankings():
    rng = np.random.default_rng(3)
    n_items = 60
    order = {u: rng.permutation(n_items) for u in range(20)}
    truth = {u: set(rng.choice(n_items, 4, replace=False).tolist()) for u in range(20)}

    class Model:
        items = [str(i) for i in range(n_items)]

        def recommend_for(self, user, n):
            return {"items": [str(i) for i in order[int(user)][:n]]}

    by_index = metrics.evaluate(lambda users, k: np.array([order[int(u)][:k] for u in users]), truth, n_items)
    by_id = evaluation.score(Model(), {str(u): {str(i) for i in t} for u, t in truth.items()})
    assert by_index == by_id
