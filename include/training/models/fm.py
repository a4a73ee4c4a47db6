"""A factorization machine with user and item side features, trained for ranking with BPR.

Each user is the sum of the embeddings of its features - its id, its country, its scaled
recency/frequency/monetary figures - and each item the sum of its id's and its scaled price,
popularity and buyer count (LightFM's formulation of an FM for two fields). score = user . item +
item bias. With the catalogue's description embeddings staged (`desc_*`, principal components
of Bedrock's vectors), an item also sums one vector per component. Side features let the model
say something about sparse users and, through the country embedding, about users it has never
seen.

Training: minibatches of (user, bought item, random item) triples, ascent on log sigmoid of the
score difference, Adagrad, L2 on the rows a batch touches. Plain numpy and scipy.sparse.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.training.artifact import ScoringModel
from include.training.data import Dataset

USER_DENSE = ("recency_days_z", "frequency_z", "monetary_z")
ITEM_DENSE = ("unit_price_z", "popularity_z", "buyers_z")


def _feature_matrix(ids: np.ndarray, features: pd.DataFrame | None, dense: tuple[str, ...], categorical: str | None):
    """CSR rows = entities; columns = one-hot id, one-hot category, dense values. Returns (X, names)."""
    n = len(ids)
    blocks = [sp.identity(n, dtype=np.float32, format="csr")]
    names = [f"id={i}" for i in ids]
    if features is not None:
        aligned = features.reindex(pd.Index(ids))
        if categorical and categorical in aligned:
            values = aligned[categorical].fillna("Other").astype(str)
            categories = sorted(values.unique())
            codes = pd.Categorical(values, categories=categories).codes
            blocks.append(sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), codes)), shape=(n, len(categories))))
            names += [f"{categorical}={c}" for c in categories]
        present = [c for c in dense if c in aligned]
        if present:
            values = aligned[present].fillna(0.0).to_numpy(np.float32)
            blocks.append(sp.csr_matrix(values))
            names += present
    return sp.hstack(blocks, format="csr", dtype=np.float32), names


def train(data: Dataset, hp: dict) -> ScoringModel:
    k = int(hp.get("factors", 64))
    epochs = int(hp.get("epochs", 30))
    lr = float(hp.get("learning_rate", 0.05))
    reg = float(hp.get("regularization", 1e-4))
    batch = int(hp.get("batch_size", 2048))
    rng = np.random.default_rng(int(hp.get("seed", 42)))
    started = time.monotonic()

    xu, user_names = _feature_matrix(data.users, data.user_features, USER_DENSE, "country")
    described = sorted(
        c for c in (data.item_features.columns if data.item_features is not None else []) if c.startswith("desc_")
    )
    xi, _ = _feature_matrix(data.items, data.item_features, (*ITEM_DENSE, *described), None)
    vu = rng.normal(0, 0.1 / np.sqrt(k), (xu.shape[1], k)).astype(np.float32)
    vi = rng.normal(0, 0.1 / np.sqrt(k), (xi.shape[1], k)).astype(np.float32)
    wi = np.zeros(xi.shape[1], np.float32)
    gu, gi, gw = np.zeros_like(vu), np.zeros_like(vi), np.zeros_like(wi)

    positives = data.train.tocoo()
    pu, pi = positives.row.astype(np.int64), positives.col.astype(np.int64)
    n_items = len(data.items)
    for _ in range(epochs):
        order = rng.permutation(len(pu))
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            u, i, j = pu[chosen], pi[chosen], rng.integers(0, n_items, len(chosen))
            xu_b, xi_b, xj_b = xu[u], xi[i], xi[j]
            ue, ie, je = xu_b @ vu, xi_b @ vi, xj_b @ vi
            x = np.einsum("bk,bk->b", ue, ie - je) + xi_b @ wi - xj_b @ wi
            g = (1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))).astype(np.float32)[:, None]  # d log sigmoid(x) / dx
            grad_vu = xu_b.T @ (g * (ie - je))
            grad_vi = xi_b.T @ (g * ue) - xj_b.T @ (g * ue)
            grad_wi = xi_b.T @ g[:, 0] - xj_b.T @ g[:, 0]
            touched_u = np.unique(xu_b.indices)
            touched_i = np.unique(np.concatenate([xi_b.indices, xj_b.indices]))
            grad_vu[touched_u] -= reg * vu[touched_u]
            grad_vi[touched_i] -= reg * vi[touched_i]
            for param, grad, acc in ((vu, grad_vu, gu), (vi, grad_vi, gi), (wi, grad_wi, gw)):
                grad = np.asarray(grad, dtype=np.float32)
                acc += grad * grad
                param += lr * grad / np.sqrt(acc + 1e-8)

    contexts = [(n, r) for r, n in enumerate(user_names) if n.startswith("country=")]
    return ScoringModel(
        kind="fm",
        users=[str(u) for u in data.users],
        items=[str(i) for i in data.items],
        item_factors=np.asarray(xi @ vi, dtype=np.float32),
        item_bias=np.asarray(xi @ wi, dtype=np.float32).ravel(),
        popularity=data.popularity,
        user_factors=np.asarray(xu @ vu, dtype=np.float32),
        context_names=[n for n, _ in contexts],
        context_factors=vu[[r for _, r in contexts]] if contexts else None,
        hyperparameters={
            "model": "fm",
            "factors": k,
            "epochs": epochs,
            "learning_rate": lr,
            "regularization": reg,
            "batch_size": batch,
            "seed": int(hp.get("seed", 42)),
        },
        info={
            "user_features": xu.shape[1],
            "item_features": xi.shape[1],
            "side_features": data.user_features is not None,
            "description_features": len(described),
            "fit_seconds": round(time.monotonic() - started, 2),
        },
    )
