"""The repeat-aware ranker: which of a customer's items (and their neighbours' items) come back next.

Built on the next-basket literature: repeat signals dominate on reorder data (Li et al. 2023),
so every item the customer bought is a candidate, described by how often, how recently and how
regularly it was bought (ReCANet's repeat features); a TIFU-KNN profile (Hu et al. 2020: basket
vectors decayed by recency, r ** baskets-ago) and the mean profile of the customer's k nearest
neighbours (UP-CF@r, Faggioli et al. 2020) score the bought items and propose `discovery` items
the customer never bought. A logistic regression weighs these features; it is fitted inside the
training window only: for each of its last `label_months` months, the features of the months
before it against what each active customer bought in it (never the evaluation month; a one-month
window uses its last 10 days as the labelled period). The
fitted scores of every candidate become the artifact's profile, so serving needs no history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.training.artifact import ScoringModel
from include.training.data import Dataset
from include.training.models.personal import profile_model

DAY = 86_400.0
FEATURES = (
    "baskets",
    "lines",
    "frequency",
    "days_since",
    "days_since_first",
    "user_baskets",
    "user_days_since",
    "user_span",
    "gap",
    "due",
    "item_buyers",
    "item_recent_buyers",
    "item_repeat_share",
    "bought",
    "tifu_self",
    "tifu_neighbours",
    "trend",
)
SHORT_LABEL_DAYS = 10
DEFAULTS = {"decay": 0.9, "neighbours": 100, "discovery": 20, "label_months": 3, "c": 0.1, "recent_days": 30}


def tifu_profiles(lines: pd.DataFrame, shape: tuple[int, int], decay: float) -> sp.csr_matrix:
    """Per user: sum over baskets of decay ** (baskets ago) x basket, over the sum of the weights."""
    baskets = lines[["user", "timestamp"]].drop_duplicates()
    ago = baskets.groupby("user").timestamp.rank(method="dense", ascending=False).to_numpy() - 1
    weight = pd.Series(np.power(decay, ago), index=pd.MultiIndex.from_frame(baskets))
    pairs = lines.drop_duplicates(["user", "item", "timestamp"])
    w = weight.reindex(pd.MultiIndex.from_frame(pairs[["user", "timestamp"]])).to_numpy()
    matrix = sp.csr_matrix((w, (pairs.user.to_numpy(), pairs.item.to_numpy())), shape=shape)
    norm = np.bincount(baskets.user.to_numpy(), weights=np.power(decay, ago), minlength=shape[0])
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norm, 1e-12)) @ matrix)


def neighbour_profiles(profiles: sp.csr_matrix, k: int, block: int = 1024) -> np.ndarray:
    """Mean profile of each user's k most cosine-similar users, similarity-weighted (dense users x items)."""
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
    unit = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ profiles)
    n = profiles.shape[0]
    k = max(1, min(k, n - 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, block):
        sim = (unit[start : start + block] @ unit.T).toarray()
        sim[np.arange(sim.shape[0]), np.arange(start, start + sim.shape[0])] = 0.0
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(np.arange(start, start + sim.shape[0]), k))
        cols.append(top.ravel())
        vals.append(np.take_along_axis(sim, top, axis=1).ravel())
    weights = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    weights = sp.diags(1.0 / np.maximum(np.asarray(weights.sum(axis=1)).ravel(), 1e-12)) @ weights
    return np.asarray((weights @ profiles).todense())


def candidates(lines: pd.DataFrame, shape: tuple[int, int], hp: dict) -> pd.DataFrame:
    """(user, item) candidates with their features, from the purchase lines before a cut."""
    end = lines.timestamp.max()
    distinct = lines.drop_duplicates()
    grouped = distinct.groupby(["user", "item"]).timestamp
    frame = pd.DataFrame({"baskets": grouped.size(), "last": grouped.max(), "first": grouped.min()})
    frame["lines"] = lines.groupby(["user", "item"]).size()
    frame = frame.reset_index()
    per_user = distinct[["user", "timestamp"]].drop_duplicates().groupby("user").timestamp
    users = pd.DataFrame({"user_baskets": per_user.size(), "ulast": per_user.max(), "ufirst": per_user.min()})
    profiles = tifu_profiles(lines, shape, float(hp["decay"]))
    neighbours = neighbour_profiles(profiles, int(hp["neighbours"]))
    # discovery: each user's best neighbour items they never bought
    proposed = neighbours.copy()
    proposed[frame.user.to_numpy(), frame.item.to_numpy()] = -1.0
    depth = max(1, min(int(hp["discovery"]), shape[1] - 1))
    top = np.argpartition(-proposed, depth - 1, axis=1)[:, :depth]
    active = users.index.to_numpy()
    new = pd.DataFrame({"user": np.repeat(active, depth), "item": top[active].ravel()})
    new = new[proposed[new.user.to_numpy(), new.item.to_numpy()] > 0]
    new = new.assign(baskets=0.0, lines=0.0, last=np.nan, first=np.nan)
    frame = pd.concat([frame.assign(bought=1.0), new.assign(bought=0.0)], ignore_index=True)
    frame = frame.join(users, on="user")
    frame["frequency"] = frame.baskets / frame.user_baskets
    frame["days_since"] = ((end - frame["last"]) / DAY).fillna(999.0)
    frame["days_since_first"] = ((end - frame["first"]) / DAY).fillna(999.0)
    frame["user_days_since"] = (end - frame.ulast) / DAY
    frame["user_span"] = (frame.ulast - frame.ufirst) / DAY
    frame["gap"] = ((frame["last"] - frame["first"]) / DAY / np.maximum(frame.baskets - 1, 1)).fillna(999.0)
    frame["due"] = (frame.days_since / np.maximum(frame.gap, 1.0)).where(frame.bought > 0, 0.0)
    buyers = distinct.groupby("item").user.nunique()
    recent = distinct[distinct.timestamp > end - float(hp["recent_days"]) * DAY].groupby("item").user.nunique()
    repeat_share = frame[frame.bought > 0].groupby("item").baskets.apply(lambda b: float((b > 1).mean()))
    frame["item_buyers"] = frame.item.map(buyers).fillna(0.0)
    frame["item_recent_buyers"] = frame.item.map(recent).fillna(0.0)
    frame["item_repeat_share"] = frame.item.map(repeat_share).fillna(0.0)
    frame["trend"] = (frame.item_recent_buyers + 1) / (frame.item_buyers + 1)
    frame["tifu_self"] = np.asarray(profiles[frame.user.to_numpy(), frame.item.to_numpy()]).ravel()
    frame["tifu_neighbours"] = neighbours[frame.user.to_numpy(), frame.item.to_numpy()]
    return frame


def _design(frame: pd.DataFrame) -> np.ndarray:
    values = frame[list(FEATURES)].to_numpy(dtype=np.float64)
    return np.copysign(np.log1p(np.abs(values)), values)  # counts and days on a log scale


def months_of(timestamps: pd.Series) -> np.ndarray:
    return pd.to_datetime(timestamps, unit="s").dt.strftime("%Y-%m").to_numpy()


def training_examples(lines: pd.DataFrame, shape: tuple[int, int], hp: dict) -> pd.DataFrame:
    """Labelled candidates: for each of the window's last months, features before it vs. purchases in it."""
    month = months_of(lines.timestamp)
    months = sorted(set(month))
    periods = [(month < label, month == label) for label in months[1:][-int(hp["label_months"]) :]]
    if not periods:  # a one-month window: its last SHORT_LABEL_DAYS are the labels
        cut = lines.timestamp.max() - SHORT_LABEL_DAYS * DAY
        periods = [(lines.timestamp.to_numpy() <= cut, lines.timestamp.to_numpy() > cut)]
    parts = []
    for is_before, is_during in periods:
        before, during = lines[is_before], lines[is_during]
        if before.empty or during.empty:
            raise ValueError("the repeat model's window is too short to hold history and a labelled period")
        frame = candidates(before, shape, hp)
        frame = frame[frame.user.isin(set(during.user.unique()))]
        bought = set(zip(during.user.to_numpy().tolist(), during.item.to_numpy().tolist(), strict=True))
        frame["label"] = [(u, i) in bought for u, i in zip(frame.user.tolist(), frame.item.tolist(), strict=True)]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def train(data: Dataset, hp: dict) -> ScoringModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if data.lines is None:
        raise ValueError("the repeat model needs the training lines with their timestamps")
    settings = {**DEFAULTS, **{k: hp[k] for k in DEFAULTS if k in hp}}
    examples = training_examples(data.lines, data.shape, settings)
    if examples.label.nunique() < 2:
        raise ValueError("the repeat model's labelled months hold no repeat purchase to learn from")
    ranker = make_pipeline(StandardScaler(), LogisticRegression(C=float(settings["c"]), max_iter=3000))
    ranker.fit(_design(examples), examples.label.to_numpy())
    frame = candidates(data.lines, data.shape, settings)
    scores = ranker.predict_proba(_design(frame))[:, 1]
    matrix = sp.csr_matrix((scores, (frame.user.to_numpy(), frame.item.to_numpy())), shape=data.shape)
    model = profile_model("repeat", data, matrix, {"model": "repeat", **settings})
    coefficients = ranker[-1].coef_.ravel()
    model.info = {
        "ranker": "logistic regression on standardised log features",
        "coefficients": {name: round(float(c), 4) for name, c in zip(FEATURES, coefficients, strict=True)},
        "training_examples": len(examples),
        "positive_share": round(float(examples.label.mean()), 4),
    }
    return model
