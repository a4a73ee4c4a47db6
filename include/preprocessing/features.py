"""User and item features accumulated batch by batch: memory grows with users and items, not rows.

Sums, maxima and last values fold per batch with Arrow's group-by. Distinct counts (a user's
invoices, an item's buyers) are exact: each pair becomes one int64 key (dense codes for users and
items, the invoice number itself) and the keys are de-duplicated with numpy as they accumulate.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_PER_DAY = 86_400.0
_USER_BITS = 23  # up to 8,388,608 distinct users in one run
_INVOICE_BITS = 40
_COMPACT_AT = 4_000_000


class Codes:
    """Dense integer codes for string ids, assigned in order of first appearance."""

    def __init__(self, limit_bits: int) -> None:
        self.codes: dict[str, int] = {}
        self.limit = 1 << limit_bits

    def encode(self, values: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(values).combine_chunks() if isinstance(values, pa.ChunkedArray) else None
        encoded = encoded if encoded is not None else pc.dictionary_encode(values)
        lookup = np.fromiter(
            (self.codes.setdefault(v, len(self.codes)) for v in encoded.dictionary.to_pylist()), dtype=np.int64
        )
        if len(self.codes) > self.limit:
            raise ValueError(f"more than {self.limit:,} distinct ids in one run: split the input")
        return lookup[encoded.indices.to_numpy(zero_copy_only=False)]

    def decode(self) -> list[str]:
        return list(self.codes)


class DistinctPairs:
    """Exact distinct (group, member) pairs as int64 keys `group << shift | member`."""

    def __init__(self, shift: int) -> None:
        self.shift = shift
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, group: np.ndarray, member: np.ndarray) -> None:
        keys = np.unique((group << self.shift) | member)
        self.parts.append(keys)
        self.size += len(keys)
        if self.size > _COMPACT_AT and len(self.parts) > 1:
            merged = np.unique(np.concatenate(self.parts))
            self.parts, self.size = [merged], len(merged)

    def counts(self, groups: int) -> np.ndarray:
        keys = np.unique(np.concatenate(self.parts)) if self.parts else np.empty(0, np.int64)
        return np.bincount(keys >> self.shift, minlength=groups)


class _Folded:
    """Per-key partial aggregates folded as batches arrive, compacted when they grow."""

    def __init__(self, key: str, aggregations: list[tuple[str, str, str]]) -> None:
        self.key = key
        self.aggregations = aggregations  # (column, function on a batch, function to fold partials)
        self.partials: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        part = table.group_by(self.key, use_threads=False).aggregate([(c, f) for c, f, _ in self.aggregations])
        self.partials.append(part)
        self.rows += part.num_rows
        if self.rows > _COMPACT_AT and len(self.partials) > 1:
            self.partials = [self.result()]
            self.rows = self.partials[0].num_rows

    def result(self) -> pa.Table:
        """One row per key, columns named `<column>_<batch function>` as Arrow names them."""
        names = [f"{c}_{f}" for c, f, _ in self.aggregations]
        if not self.partials:
            return pa.table({self.key: pa.array([], pa.string()), **{n: pa.array([]) for n in names}})
        table = pa.concat_tables(self.partials)
        folded = table.group_by(self.key, use_threads=False).aggregate(
            [(n, fold) for n, (_, _, fold) in zip(names, self.aggregations, strict=True)]
        )
        return folded.rename_columns([self.key, *names])


class FeatureAccumulator:
    def __init__(self) -> None:
        self.users = Codes(_USER_BITS)
        self.items = Codes(32 - 1)
        self.user_invoices = DistinctPairs(_INVOICE_BITS)
        self.item_buyers = DistinctPairs(_USER_BITS)
        self.user_totals = _Folded(
            "user_id",
            [
                ("timestamp", "max", "max"),
                ("event_value", "sum", "sum"),
                ("country", "last", "last"),
                ("timestamp", "min", "min"),
            ],
        )
        self.item_totals = _Folded(
            "item_id",
            [
                ("unit_price", "sum", "sum"),
                ("unit_price", "count", "sum"),
                ("quantity", "sum", "sum"),
                ("description", "last", "last"),
            ],
        )
        self.rows = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    def add(self, clean: pa.Table, descriptions: pa.Array) -> None:
        if clean.num_rows == 0:
            return
        self.rows += clean.num_rows
        users = self.users.encode(clean.column("user_id"))
        items = self.items.encode(clean.column("item_id"))
        invoices = pc.cast(clean.column("invoice_no"), pa.int64()).to_numpy()
        if invoices.max(initial=0) >= 1 << _INVOICE_BITS:
            raise ValueError(f"invoice numbers above {1 << _INVOICE_BITS} are not supported")
        self.user_invoices.add(users, invoices)
        self.item_buyers.add(items, users)
        self.user_totals.add(clean.select(["user_id", "timestamp", "event_value", "country"]))
        self.item_totals.add(
            pa.table(
                {
                    "item_id": clean.column("item_id"),
                    "unit_price": clean.column("unit_price"),
                    "quantity": clean.column("quantity"),
                    "description": descriptions,
                }
            )
        )
        lo, hi = pc.min_max(clean.column("timestamp")).values()
        self.first_ts = lo.as_py() if self.first_ts is None else min(self.first_ts, lo.as_py())
        self.last_ts = hi.as_py() if self.last_ts is None else max(self.last_ts, hi.as_py())

    def user_features(self, reference_ts: int) -> pa.Table:
        totals = self.user_totals.result()
        codes = self.users.encode(totals.column("user_id"))
        frequency = self.user_invoices.counts(len(self.users.codes))[codes]
        last = totals.column("timestamp_max")
        recency = pc.divide(
            pc.cast(pc.subtract(pa.scalar(reference_ts, pa.int64()), last), pa.float64()), SECONDS_PER_DAY
        )
        table = pa.table(
            {
                "user_id": totals.column("user_id"),
                "recency_days": pc.round(recency, 4),
                "frequency": pa.array(frequency, pa.int64()),
                "monetary": pc.round(totals.column("event_value_sum"), 2),
                "country": totals.column("country_last"),
                "first_purchase": totals.column("timestamp_min"),
                "last_purchase": last,
            }
        )
        return table.sort_by("user_id")

    def item_features(self) -> pa.Table:
        totals = self.item_totals.result()
        codes = self.items.encode(totals.column("item_id"))
        buyers = self.item_buyers.counts(len(self.items.codes))[codes]
        lines = totals.column("unit_price_count")
        table = pa.table(
            {
                "item_id": totals.column("item_id"),
                "description": totals.column("description_last"),
                "unit_price": pc.round(pc.divide(totals.column("unit_price_sum"), pc.cast(lines, pa.float64())), 4),
                "popularity": pc.cast(lines, pa.int64()),
                "quantity": totals.column("quantity_sum"),
                "buyers": pa.array(buyers, pa.int64()),
            }
        )
        return table.sort_by("item_id")
