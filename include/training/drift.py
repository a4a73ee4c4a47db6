"""Data drift between the data a model learned from and a new month, feature by feature.

Defaults follow Evidently's: numeric features use the Wasserstein distance normalised by the
reference's standard deviation, categorical ones the Jensen-Shannon distance, both with a 0.1
threshold; PSI is available for numeric features (common threshold 0.1-0.2). The data set drifts
when at least `drift_share` (default 0.5) of the features drift.

Features of a purchase log: what a line is worth, how many units, at what price, when in the day
and week, from which country, and which products (the item mix, where Christmas shows first).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

NUMERIC_METHODS = ("wasserstein", "psi")
DEFAULT_THRESHOLDS = {"wasserstein": 0.1, "psi": 0.1, "jensenshannon": 0.1}
TOP_ITEMS = 500  # the item mix: shares of the reference's most bought items, the rest pooled


@dataclass
class FeatureDrift:
    feature: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    drift_share: float
    drifted_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        drifted = [f"{f.feature} ({f.method} {f.score:.3f})" for f in self.features if f.drifted]
        return (
            f"{len(drifted)}/{len(self.features)} features drifted (share {self.drifted_share:.2f}, "
            f"dataset drift at {self.drift_share:.2f}): " + (", ".join(drifted) or "none")
        )


def describe(interactions: pd.DataFrame) -> dict[str, pd.Series]:
    """The compared features of an interactions table (the preprocessing job's schema)."""
    when = pd.to_datetime(interactions["timestamp"], unit="s", utc=True)
    return {
        "event_value": np.log1p(interactions["event_value"].astype(float)),
        "quantity": np.log1p(interactions["quantity"].astype(float)),
        "unit_price": np.log1p(interactions["unit_price"].astype(float)),
        "hour": when.dt.hour.astype(float),
        "weekday": when.dt.day_of_week.astype(str),
        "country": interactions["country"].astype(str),
        "item": interactions["item_id"].astype(str),
    }


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    std = float(np.std(reference))
    return float(wasserstein_distance(reference, current) / (std if std > 0 else 1.0))


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        edges = np.array([reference.min() - 1, reference.max() + 1])
    ref = np.histogram(np.clip(reference, edges[0], edges[-1]), edges)[0] / len(reference)
    cur = np.histogram(np.clip(current, edges[0], edges[-1]), edges)[0] / len(current)
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_categorical(reference: pd.Series, current: pd.Series, top: int | None = None) -> float:
    ref_counts = reference.value_counts()
    keep = ref_counts.index[:top] if top else ref_counts.index
    categories = [*keep, "__other__"]

    def shares(values: pd.Series) -> np.ndarray:
        counts = values.where(values.isin(keep), "__other__").value_counts()
        return counts.reindex(categories, fill_value=0).to_numpy(dtype=float) / max(len(values), 1)

    return float(jensenshannon(shares(reference), shares(current), base=2))


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_method: str = "wasserstein",
    thresholds: dict[str, float] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    if numeric_method not in NUMERIC_METHODS:
        raise ValueError(f"numeric_method must be one of {NUMERIC_METHODS}, not {numeric_method!r}")
    if reference.empty or current.empty:
        raise ValueError("drift needs rows on both sides")
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    ref, cur = describe(reference), describe(current)
    results = []
    for name in ref:
        if pd.api.types.is_numeric_dtype(ref[name]):
            a, b = ref[name].to_numpy(float), cur[name].to_numpy(float)
            score = wasserstein_normed(a, b) if numeric_method == "wasserstein" else psi(a, b)
            method = numeric_method
        else:
            score = js_categorical(ref[name], cur[name], TOP_ITEMS if name == "item" else None)
            method = "jensenshannon"
        results.append(FeatureDrift(name, method, round(score, 6), limits[method], score >= limits[method]))
    share = sum(f.drifted for f in results) / len(results)
    return DriftReport(
        features=results,
        drift_share=drift_share,
        drifted_share=round(share, 4),
        dataset_drift=share >= drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
    )
