"""What a local solution version trains, per recipe, and the metrics Personalize reports for it.

Personalize's offline metrics: 10% of the users (with at least two interactions) are held out;
for each, the newest 10% of their interactions (at least one) are the ground truth and the rest
stays in training; the model is trained on everything else and scored on those users:
precision@K, NDCG@K (K = 5, 10, 25), MRR@25, and coverage (share of items ever recommended).

  - aws-user-personalization(-v2): implicit-feedback ALS (the `implicit` library), the
    project's own trainer; new users get the popularity ranking, as Personalize's exploration does.
  - aws-popularity-count: the popularity ranking.
  - aws-similar-items / aws-sims: item-to-item cosine similarity of co-purchases; for a user, the
    items most similar to what they bought (GetRecommendations with itemId gives an item's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

USER_PERSONALIZATION = ("aws-user-personalization", "aws-user-personalization-v2")
POPULARITY = ("aws-popularity-count",)
SIMILAR_ITEMS = ("aws-similar-items", "aws-sims")
RECIPES = USER_PERSONALIZATION + POPULARITY + SIMILAR_ITEMS
UPDATE_MODE_RECIPES = ("aws-user-personalization", "aws-popularity-count")
METRIC_NAMES = {
    "precision_at_5": "precision_at_5",
    "precision_at_10": "precision_at_10",
    "precision_at_25": "precision_at_25",
    "ndcg_at_5": "normalized_discounted_cumulative_gain_at_5",
    "ndcg_at_10": "normalized_discounted_cumulative_gain_at_10",
    "ndcg_at_25": "normalized_discounted_cumulative_gain_at_25",
    "mrr_at_25": "mean_reciprocal_rank_at_25",
    "coverage": "coverage",
}


class TrainingError(ValueError):
    """Why a solution version failed: becomes its failureReason."""


def recipe_name(recipe_arn: str) -> str:
    return recipe_arn.rsplit("/", 1)[-1]


@dataclass
class TrainedModel:
    recipe: str
    users: list[str]
    items: list[str]
    popularity: np.ndarray
    scoring: object | None = None  # include.training.artifact.ScoringModel (user-personalization)
    similarity: np.ndarray | None = None  # items x items (similar items)
    history: dict[str, np.ndarray] = field(default_factory=dict)  # user -> item indices bought
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._item_index = {item: i for i, item in enumerate(self.items)}
        self._popular = np.argsort(-self.popularity, kind="stable")

    def _top(self, scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> list[tuple[str, float]]:
        scores = scores.astype(np.float64).copy()
        if exclude is not None and len(exclude):
            scores[exclude] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        top = top[np.argsort(-scores[top], kind="stable")]
        total = float(np.abs(scores[top]).sum()) or 1.0
        return [(self.items[i], float(scores[i]) / total) for i in top]

    def recommend(self, user_id: str | None, k: int, item_id: str | None = None) -> list[tuple[str, float]]:
        if self.recipe in SIMILAR_ITEMS:
            if item_id is not None:
                index = self._item_index.get(item_id)
                if index is None:
                    return self._top(self.popularity, k)
                return self._top(self.similarity[index], k, exclude=np.array([index]))
            bought = self.history.get(str(user_id))
            if bought is None or not len(bought):
                return self._top(self.popularity, k)
            return self._top(self.similarity[bought].sum(axis=0), k, exclude=bought)
        if self.recipe in USER_PERSONALIZATION and self.scoring is not None:
            result = self.scoring.recommend_for(str(user_id), k)
            if result["source"] == "model":
                return [(i, float(s)) for i, s in zip(result["items"], result["scores"], strict=True)]
        return self._top(self.popularity, k)

    def rank(self, user_id: str, item_ids: list[str]) -> list[tuple[str, float]]:
        """GetPersonalizedRanking: the input items ordered for the user (unknown items last)."""
        known = [i for i in item_ids if i in self._item_index]
        order = dict(self.recommend(user_id, len(self.items)))
        ranked = sorted(known, key=lambda i: -order.get(i, float("-inf")))
        return [(i, order.get(i, 0.0)) for i in ranked] + [(i, 0.0) for i in item_ids if i not in self._item_index]


def holdout_split(frame: pd.DataFrame, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Personalize's split: 10% of users, their newest 10% of interactions as the truth."""
    counts = frame.groupby("user_id").size()
    eligible = counts[counts >= 2].index.to_numpy()
    if len(eligible) < 10:
        raise TrainingError(f"too few users with 2+ interactions to evaluate ({len(eligible)}; need 10)")
    rng = np.random.default_rng(seed)
    held = set(rng.choice(eligible, size=max(1, len(eligible) // 10), replace=False).tolist())
    ordered = frame.sort_values(["user_id", "timestamp"], kind="stable")
    rank_from_end = ordered.groupby("user_id").cumcount(ascending=False)
    size = ordered.user_id.map(counts)
    newest = rank_from_end < np.maximum(1, (size * 0.1).astype(int))
    test_mask = ordered.user_id.isin(held) & newest
    return ordered[~test_mask], ordered[test_mask]


def train(recipe_arn: str, frame: pd.DataFrame, hyperparameters: dict | None = None) -> TrainedModel:
    from include.training import data, metrics
    from include.training.models import trainer

    recipe = recipe_name(recipe_arn)
    if recipe not in RECIPES:
        raise TrainingError(f"recipe {recipe!r} is not available locally (choose one of {', '.join(RECIPES)})")
    if frame.empty:
        raise TrainingError("the dataset group's interactions dataset is empty: import data first")
    frame = frame.assign(user_id=frame.user_id.astype(str), item_id=frame.item_id.astype(str))
    train_frame, test_frame = holdout_split(frame)
    dataset = data.build(train_frame, test_frame)
    hp = {"factors": 64, "epochs": 15, "seed": 42, **(hyperparameters or {})}
    matrix = dataset.train.tocsr()
    history = {
        str(dataset.users[u]): matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]]
        for u in range(len(dataset.users))
    }
    model = TrainedModel(recipe, list(dataset.users), list(dataset.items), dataset.popularity, history=history)
    if recipe in USER_PERSONALIZATION:
        import warnings

        from threadpoolctl import threadpool_limits

        # implicit's advice: its own threads, not BLAS's (its check still warns inside the limit)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
            model.scoring = trainer("als")(dataset, {"model": "als", **hp})
        recommend = model.scoring.recommend
    elif recipe in SIMILAR_ITEMS:
        binary = (matrix > 0).astype(np.float32)
        co = (binary.T @ binary).toarray()
        norms = np.sqrt(np.diag(co)).clip(min=1e-9)
        model.similarity = co / norms[:, None] / norms[None, :]
        np.fill_diagonal(model.similarity, 0.0)

        def recommend(users: np.ndarray, k: int) -> np.ndarray:
            out = []
            for u in users:
                bought = history[str(dataset.users[u])]
                scores = model.similarity[bought].sum(axis=0)
                scores[bought] = -np.inf
                out.append(np.argsort(-scores, kind="stable")[:k])
            return np.array(out)
    else:

        def recommend(users: np.ndarray, k: int) -> np.ndarray:
            return np.tile(model._popular[:k], (len(users), 1))

    scored = metrics.evaluate(recommend, dataset.test, len(dataset.items))
    model.metrics = {METRIC_NAMES[k]: round(float(v), 4) for k, v in scored.items() if k in METRIC_NAMES}
    return model
