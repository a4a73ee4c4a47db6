"""ALS and BPR matrix factorisation from the `implicit` library, on purchase-line counts.

ALS weighs each observed pair by a confidence of 1 + alpha * log1p(count) (Hu, Koren and Volinsky);
BPR samples (user, bought, not bought) triples. Both are exported as plain factor matrices.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from include.training.artifact import ScoringModel
from include.training.data import Dataset


def train(data: Dataset, hp: dict) -> ScoringModel:
    kind = hp["model"]
    factors = int(hp.get("factors", 64))
    seed = int(hp.get("seed", 42))
    with threadpool_limits(1, "blas"):  # implicit's own threads do the work; nested BLAS threads slow it
        if kind == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(
                factors=factors,
                regularization=float(hp.get("regularization", 0.05)),
                iterations=int(hp.get("epochs", 15)),
                random_state=seed,
            )
            weighted = data.train.copy()
            weighted.data = 1.0 + float(hp.get("alpha", 20.0)) * np.log1p(weighted.data)
            model.fit(weighted.astype(np.float32), show_progress=False)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(
                factors=factors,
                learning_rate=float(hp.get("learning_rate", 0.05)),
                regularization=float(hp.get("regularization", 0.01)),
                iterations=int(hp.get("epochs", 100)),
                random_state=seed,
            )
            model.fit((data.train > 0).astype(np.float32).tocsr(), show_progress=False)
    return ScoringModel(
        kind=kind,
        users=[str(u) for u in data.users],
        items=[str(i) for i in data.items],
        item_factors=np.asarray(model.item_factors, dtype=np.float32),
        item_bias=np.zeros(len(data.items), np.float32),
        popularity=data.popularity,
        user_factors=np.asarray(model.user_factors, dtype=np.float32),
        hyperparameters={
            k: hp[k]
            for k in ("model", "factors", "epochs", "regularization", "alpha", "learning_rate", "seed")
            if k in hp
        },
    )
