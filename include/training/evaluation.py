"""Compare models on the same month and the same customers: challenger, champion, baselines.

Each model's own holdout (in training) counts the users *it* knows; a comparison must hold the
users fixed. Here the truth is every purchase of the given customers in the month, and each model
ranks for each customer through `recommend_for` (unknown customers get the model's fallback).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from include.training.artifact import ScoringModel
from include.training.metrics import COVERAGE_K, KS, ranking_metrics


def truth_of(month: pd.DataFrame, users: Iterable[str] | None = None) -> dict[str, set[str]]:
    frame = month if users is None else month[month.user_id.isin(set(users))]
    return {str(u): set(map(str, g.item_id.unique())) for u, g in frame.groupby("user_id")}


def score(model: ScoringModel, truth: dict[str, set[str]], per_user: list | None = None) -> dict[str, float]:
    """The metrics over `truth`'s customers in its order; `per_user` receives each one's NDCG@10."""
    if not truth:
        raise ValueError("no customer to evaluate on")
    depth = max(*KS, COVERAGE_K)
    rankings = ((model.recommend_for(user, depth)["items"], relevant) for user, relevant in truth.items())
    return ranking_metrics(rankings, len(model.items), per_user)
