"""The scoring artifact every model is saved as: `model.npz` (arrays) + `model.json` (ids, settings).

score(user, item) = user_factors[user] . item_factors[item] + item_bias[item] + profile[user, item].
Popularity is the degenerate case (no factors, bias = popularity). The optional `profile` is a
sparse users x items matrix (CSR arrays `profile_data/indices/indptr`) of per-customer scores
computed at training from the customer's own purchase history: the personal baselines and the
repeat-aware ranker are profiles over a small popularity bias, so serving needs no history beyond
the artifact. Users the model has not seen get, in order: a
vector built from their context (FM: from the country's embedding) when context is given, else
the popularity ranking. Loading uses `np.load(allow_pickle=False)` and JSON: nothing executes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NPZ, JSON = "model.npz", "model.json"
FORMAT_VERSION = 1


@dataclass
class ScoringModel:
    kind: str
    users: list[str]
    items: list[str]
    item_factors: np.ndarray  # items x d (d may be 0)
    item_bias: np.ndarray  # items
    popularity: np.ndarray  # items: training purchases, the fallback ranking
    user_factors: np.ndarray  # users x d
    context_names: list[str] = field(default_factory=list)  # e.g. "country=France"
    context_factors: np.ndarray | None = None  # contexts x d
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    # users x items CSR (data, indices, indptr): per-customer scores added to the factor scores
    profile: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.users)}
        self._context_index = {c: i for i, c in enumerate(self.context_names)}
        self._popular = np.argsort(-self.popularity, kind="stable")
        if self.profile is not None:
            data, indices, indptr = self.profile
            if len(indptr) != len(self.users) + 1 or len(data) != len(indices) or int(indptr[-1]) != len(data):
                raise ValueError("profile: CSR arrays do not fit the model's users")
            if len(indices) and (indices.min() < 0 or indices.max() >= len(self.items)):
                raise ValueError("profile: item index out of range")

    @property
    def personal(self) -> bool:
        """Whether known users get scores of their own (factors or a profile)."""
        return bool(self.item_factors.shape[1]) or self.profile is not None

    # --- scoring -----------------------------------------------------------------------------
    def scores(self, user_indices: np.ndarray) -> np.ndarray:
        if self.item_factors.shape[1] == 0:
            base = np.broadcast_to(self.item_bias, (len(user_indices), len(self.items)))
        else:
            base = self.user_factors[user_indices] @ self.item_factors.T + self.item_bias
        if self.profile is None:
            return base
        out = np.array(base, dtype=np.float64)
        data, indices, indptr = self.profile
        for row, user in enumerate(user_indices):
            lo, hi = indptr[user], indptr[user + 1]
            out[row, indices[lo:hi]] += data[lo:hi]
        return out

    def recommend(self, user_indices: np.ndarray, k: int) -> np.ndarray:
        """Top-k item indices per user, best first (batched: the metrics' entry point)."""
        k = min(k, len(self.items))
        out = np.empty((len(user_indices), k), dtype=np.int64)
        for start in range(0, len(user_indices), 1024):
            block = self.scores(user_indices[start : start + 1024])
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
            order = np.take_along_axis(block, top, axis=1).argsort(axis=1)[:, ::-1]
            out[start : start + 1024] = np.take_along_axis(top, order, axis=1)
        return out

    def recommend_for(self, user_id: str, k: int, context: dict[str, str] | None = None) -> dict[str, Any]:
        """Top-k for one user id: the model for known users, context or popularity for new ones."""
        k = max(1, min(k, len(self.items)))
        index = self._user_index.get(str(user_id))
        if index is not None and self.personal:
            scores = self.scores(np.array([index]))[0]
            source = "model"
        else:
            vector = self._context_vector(context or {})
            if vector is not None:
                scores, source = vector @ self.item_factors.T + self.item_bias, "context"
            else:
                top = self._popular[:k]
                return {
                    "items": [self.items[i] for i in top],
                    "scores": [float(self.popularity[i]) for i in top],
                    "source": "popularity",
                }
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return {
            "items": [self.items[i] for i in top],
            "scores": [round(float(scores[i]), 6) for i in top],
            "source": source,
        }

    def _context_vector(self, context: dict[str, str]) -> np.ndarray | None:
        if self.context_factors is None:
            return None
        rows = [self._context_index[f"{k}={v}"] for k, v in context.items() if f"{k}={v}" in self._context_index]
        return self.context_factors[rows].sum(axis=0) if rows else None

    # --- storage -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            "item_factors": self.item_factors.astype(np.float32),
            "item_bias": self.item_bias.astype(np.float32),
            "popularity": self.popularity.astype(np.float64),
            "user_factors": self.user_factors.astype(np.float32),
        }
        if self.context_factors is not None:
            arrays["context_factors"] = self.context_factors.astype(np.float32)
        if self.profile is not None:
            data, indices, indptr = self.profile
            arrays["profile_data"] = np.asarray(data, np.float32)
            arrays["profile_indices"] = np.asarray(indices, np.int32)
            arrays["profile_indptr"] = np.asarray(indptr, np.int64)
        np.savez_compressed(directory / NPZ, **arrays)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "users": self.users,
            "items": self.items,
            "context_names": self.context_names,
            "hyperparameters": self.hyperparameters,
            "metrics": self.metrics,
            "info": self.info,
        }
        (directory / JSON).write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> ScoringModel:
        directory = Path(directory)
        meta = json.loads((directory / JSON).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory / JSON}: unsupported format_version {meta.get('format_version')}")
        with np.load(directory / NPZ, allow_pickle=False) as arrays:
            loaded = {name: arrays[name] for name in arrays.files}
        return cls(
            kind=meta["kind"],
            users=meta["users"],
            items=meta["items"],
            item_factors=loaded["item_factors"],
            item_bias=loaded["item_bias"],
            popularity=loaded["popularity"],
            user_factors=loaded["user_factors"],
            context_names=meta.get("context_names", []),
            context_factors=loaded.get("context_factors"),
            hyperparameters=meta.get("hyperparameters", {}),
            metrics=meta.get("metrics", {}),
            info=meta.get("info", {}),
            profile=(
                (loaded["profile_data"], loaded["profile_indices"], loaded["profile_indptr"])
                if "profile_data" in loaded
                else None
            ),
        )
