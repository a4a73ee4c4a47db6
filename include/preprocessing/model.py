"""The preprocessing model: outlier caps, a country vocabulary and feature scalers, fitted on a
window of months and stored as JSON (readable, diffable, and nothing executes on load, unlike a pickle).

`fit` sees the window through the same reader and row rules as a monthly run (with caps off), so
the statistics describe exactly the rows a run keeps. Quantiles come from log-spaced histograms:
bounded memory, about 1% precision, deterministic.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FORMAT_VERSION = 1
DEFAULT_PRODUCT_CODE_PATTERN = r"^(\d{5}[A-Z]{0,3}|DCGS[0-9A-Z]+)$"
CAP_QUANTILE = 0.9999
CAP_HEADROOM = 2.0
MIN_USERS_PER_COUNTRY = 5
OTHER_COUNTRY = "Other"
USER_SCALED = ("recency_days", "frequency", "monetary")
ITEM_SCALED = ("unit_price", "popularity", "buyers")
_EDGES = np.logspace(-3, 7, 2001)


class ModelError(ValueError):
    pass


@dataclass(frozen=True)
class Scaler:
    """log1p, then standardise: the RFM and popularity figures are heavy-tailed."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        logged = np.log1p(np.clip(values.astype(np.float64), 0, None))
        std = float(logged.std()) if len(logged) > 1 else 0.0
        return cls(mean=round(float(logged.mean()) if len(logged) else 0.0, 6), std=round(std or 1.0, 6))

    def apply(self, values: pa.Array) -> pa.Array:
        logged = np.log1p(np.clip(values.to_numpy(zero_copy_only=False).astype(np.float64), 0, None))
        return pa.array(np.round((logged - self.mean) / self.std, 6))


@dataclass(frozen=True)
class PreprocessingModel:
    product_code_pattern: str
    quantity_cap: float
    price_cap: float
    countries: dict[str, int]
    user_scalers: dict[str, Scaler]
    item_scalers: dict[str, Scaler]
    window: list[str] = field(default_factory=list)
    fitted_rows: int = 0
    fitted_at: str = ""
    format_version: int = FORMAT_VERSION

    # --- storage -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @property
    def model_id(self) -> str:
        """Content hash of what decides the output (not when it was fitted)."""
        body = asdict(self)
        body.pop("fitted_at")
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "model") -> PreprocessingModel:
        try:
            body = json.loads(text)
            if body.get("format_version") != FORMAT_VERSION:
                raise ModelError(f"{where}: format_version {body.get('format_version')} is not {FORMAT_VERSION}")
            body["user_scalers"] = {k: Scaler(**v) for k, v in body["user_scalers"].items()}
            body["item_scalers"] = {k: Scaler(**v) for k, v in body["item_scalers"].items()}
            model = cls(**body)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, AttributeError) as err:
            raise ModelError(f"{where} is not a preprocessing model: {err}") from err
        missing = [k for k in USER_SCALED if k not in model.user_scalers] + [
            k for k in ITEM_SCALED if k not in model.item_scalers
        ]
        if missing:
            raise ModelError(f"{where} has no scaler for {missing}")
        return model

    # --- use ---------------------------------------------------------------------------------
    def encode_users(self, users: pa.Table) -> pa.Table:
        known = pc.is_in(users.column("country"), value_set=pa.array(list(self.countries)))
        country = pc.if_else(known, users.column("country"), OTHER_COUNTRY)
        codes = [self.countries.get(c, self.countries.get(OTHER_COUNTRY, 0)) for c in country.to_pylist()]
        users = users.append_column("country_code", pa.array(codes, pa.int32()))
        for name, scaler in self.user_scalers.items():
            users = users.append_column(f"{name}_z", scaler.apply(users.column(name)))
        return users

    def encode_items(self, items: pa.Table) -> pa.Table:
        for name, scaler in self.item_scalers.items():
            items = items.append_column(f"{name}_z", scaler.apply(items.column(name)))
        return items


class Histogram:
    """Counts on log-spaced bins, for quantiles of positive values with bounded memory."""

    def __init__(self) -> None:
        self.counts = np.zeros(len(_EDGES) + 1, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        self.counts += np.bincount(np.searchsorted(_EDGES, values), minlength=len(self.counts))

    def quantile(self, q: float) -> float:
        total = self.counts.sum()
        if total == 0:
            raise ModelError("no rows to fit on")
        index = int(np.searchsorted(np.cumsum(self.counts), math.ceil(q * total)))
        return float(_EDGES[min(index, len(_EDGES) - 1)])


def fit(
    quantities: Histogram,
    prices: Histogram,
    users: pa.Table,
    items: pa.Table,
    window: list[str],
    rows: int,
    product_code_pattern: str = DEFAULT_PRODUCT_CODE_PATTERN,
) -> PreprocessingModel:
    if users.num_rows == 0 or items.num_rows == 0:
        raise ModelError(f"the window {window} holds no valid purchases to fit on")
    per_country: dict[str, int] = {}
    for country in users.column("country").to_pylist():
        per_country[country] = per_country.get(country, 0) + 1
    kept = sorted(c for c, n in per_country.items() if n >= MIN_USERS_PER_COUNTRY and c != OTHER_COUNTRY)
    countries = {OTHER_COUNTRY: 0, **{c: i + 1 for i, c in enumerate(kept)}}
    return PreprocessingModel(
        product_code_pattern=product_code_pattern,
        quantity_cap=round(quantities.quantile(CAP_QUANTILE) * CAP_HEADROOM, 2),
        price_cap=round(prices.quantile(CAP_QUANTILE) * CAP_HEADROOM, 2),
        countries=countries,
        user_scalers={n: Scaler.fit(users.column(n).to_numpy(zero_copy_only=False)) for n in USER_SCALED},
        item_scalers={n: Scaler.fit(items.column(n).to_numpy(zero_copy_only=False)) for n in ITEM_SCALED},
        window=window,
        fitted_rows=rows,
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
