"""User and item features accumulated batch by batch: memory grows with users and items, not rows.

Every user, item, country and description gets a dense integer code on first sight; per-code
figures live in numpy arrays that grow with the vocabulary, and each batch folds in with
vectorised scatter operations (`bincount`, `maximum.at`, last-write-wins assignment). Distinct
counts (a user's invoices, an item's buyers) are exact: each pair is one int64 key, de-duplicated
with Arrow's hash as the keys accumulate. The key's bits are split as the data needs them (see
`DistinctPairs`), so the number of users in a run has no fixed cap: with the export's 6-digit
invoice numbers there is room for 2^43 users, far past what the task's memory holds; a run that
cannot be keyed fails at the first batch that would not fit, with a message saying so.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from include.preprocessing import schema

SECONDS_PER_DAY = 86_400.0
_KEY_BITS = 63  # int64 keys, never negative
_COMPACT_AT = 4_000_000
_NO_TS = np.iinfo(np.int64).min


class Codes:
    """Dense integer codes for string ids, assigned in order of first appearance."""

    def __init__(self, limit_bits: int = 31) -> None:
        self.codes: dict[str, int] = {}
        self.limit = 1 << limit_bits

    def __len__(self) -> int:
        return len(self.codes)

    def encode(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
        codes = self.codes
        lookup = np.fromiter(
            (codes.setdefault(v, len(codes)) for v in encoded.dictionary.to_pylist()),
            dtype=np.int64,
            count=len(encoded.dictionary),
        )
        if len(codes) > self.limit:
            raise schema.MalformedInput(f"more than {self.limit:,} distinct ids in one run: split the input")
        return lookup[encoded.indices.to_numpy(zero_copy_only=False)]

    def values(self) -> pa.Array:
        return pa.array(list(self.codes), pa.string())


class DistinctPairs:
    """Exact distinct (group, member) pairs of non-negative ints as int64 keys `group << shift | member`.

    The shift is the bit length of the largest member seen so far; when a larger member arrives
    the keys are re-packed with a wider shift (order is kept: base stays sorted). So the group
    (a dense code) gets every bit the members leave: 43 bits beside 6-digit invoice numbers, 51
    beside 4,096 items. Only when group and member together need more than 63 bits does `add`
    refuse, at that batch, naming both.

    A sorted, de-duplicated base plus pending per-batch parts; the parts are merged into the base
    when they outgrow it (geometric merging: every key is sorted O(log n) times in all, and the
    peak is about twice the distinct keys, not the rows). The merge sorts in place.
    """

    def __init__(self, groups: str = "groups", members: str = "members") -> None:
        self.names = (groups, members)
        self.shift = 1
        self.top_group = 0
        self.base = np.empty(0, np.int64)
        self.parts: list[np.ndarray] = []
        self.pending = 0

    def add(self, group: np.ndarray, member: np.ndarray) -> None:
        if len(group) == 0:
            return
        top_group, top_member = max(self.top_group, int(group.max())), int(member.max())
        if int(group.min()) < 0 or int(member.min()) < 0:
            raise ValueError(f"negative {self.names[0]} or {self.names[1]}")  # codes and invoice numbers never are
        shift = max(self.shift, top_member.bit_length())
        if top_group.bit_length() + shift > _KEY_BITS:
            raise schema.MalformedInput(
                f"{top_group + 1:,} distinct {self.names[0]} with {self.names[1]} up to {top_member:,} in one run: "
                f"their pairs need more than {_KEY_BITS} bits ({top_group.bit_length()} + {shift}) for the exact "
                "distinct counts; split the input into smaller runs"
            )
        if shift > self.shift:
            self._repack(shift)
        self.top_group = top_group
        keys = pc.unique(pa.array((group.astype(np.int64) << self.shift) | member, pa.int64())).to_numpy()
        self.parts.append(keys)
        self.pending += len(keys)
        if self.pending > max(_COMPACT_AT, len(self.base)):
            self._merge()

    def _repack(self, shift: int) -> None:
        mask = (1 << self.shift) - 1
        wider = lambda keys: ((keys >> self.shift) << shift) | (keys & mask)  # noqa: E731
        self.base = wider(self.base)
        self.parts = [wider(part) for part in self.parts]
        self.shift = shift

    def _merge(self) -> None:
        merged = np.concatenate([self.base, *self.parts])
        self.parts, self.pending = [], 0
        self.base = np.empty(0, np.int64)  # release before the sort's working copy is made
        merged.sort(kind="stable")  # radix sort for int64: fast, in place
        keep = np.empty(len(merged), dtype=bool)
        if len(merged):
            keep[0] = True
            np.not_equal(merged[1:], merged[:-1], out=keep[1:])
        self.base = merged[keep]

    def counts(self, groups: int) -> np.ndarray:
        self._merge()
        return np.bincount(self.base >> self.shift, minlength=groups)


class _Columns:
    """Per-code numpy arrays, grown (doubling) as codes appear."""

    def __init__(self, **dtypes_and_fill) -> None:
        self.spec = dtypes_and_fill
        self.arrays = {name: np.full(1024, fill, dtype=dtype) for name, (dtype, fill) in dtypes_and_fill.items()}

    def ensure(self, size: int) -> None:
        capacity = len(next(iter(self.arrays.values())))
        if size <= capacity:
            return
        while capacity < size:
            capacity *= 2
        for name, (dtype, fill) in self.spec.items():
            grown = np.full(capacity, fill, dtype=dtype)
            grown[: len(self.arrays[name])] = self.arrays[name]
            self.arrays[name] = grown

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


class FeatureAccumulator:
    def __init__(self) -> None:
        self.users = Codes()
        self.items = Codes()
        self.countries = Codes()
        self.descriptions = Codes()
        self.user_invoices = DistinctPairs("users", "invoice numbers")
        self.item_buyers = DistinctPairs("items", "users")
        self.user = _Columns(
            first=(np.int64, np.iinfo(np.int64).max),
            last=(np.int64, _NO_TS),
            monetary=(np.float64, 0.0),
            country=(np.int64, -1),
        )
        self.item = _Columns(
            price_sum=(np.float64, 0.0),
            lines=(np.int64, 0),
            quantity=(np.int64, 0),
            description=(np.int64, -1),
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
        countries = self.countries.encode(clean.column("country"))
        ts = clean.column("timestamp").to_numpy()
        invoices = pc.cast(clean.column("invoice_no"), pa.int64()).to_numpy()  # 6 to 12 digits (transform)
        self.user_invoices.add(users, invoices)
        self.item_buyers.add(items, users)

        self.user.ensure(len(self.users))
        np.minimum.at(self.user["first"], users, ts)
        np.maximum.at(self.user["last"], users, ts)
        self.user["monetary"][: len(self.users)] += np.bincount(
            users, weights=clean.column("event_value").to_numpy(), minlength=len(self.users)
        )
        self.user["country"][users] = countries  # repeated codes: the last row wins

        self.item.ensure(len(self.items))
        n_items = len(self.items)
        self.item["price_sum"][:n_items] += np.bincount(
            items, weights=clean.column("unit_price").to_numpy(), minlength=n_items
        )
        self.item["lines"][:n_items] += np.bincount(items, minlength=n_items)
        self.item["quantity"][:n_items] += np.bincount(
            items, weights=clean.column("quantity").to_numpy(), minlength=n_items
        ).astype(np.int64)
        # the description of each item's last row in the batch: encode a few thousand, not every row
        last_row = np.full(n_items, -1, dtype=np.int64)
        last_row[items] = np.arange(len(items))
        seen = np.flatnonzero(last_row >= 0)
        self.item["description"][seen] = self.descriptions.encode(
            pc.utf8_trim_whitespace(pc.take(descriptions, pa.array(last_row[seen])))
        )

        lo, hi = int(ts.min()), int(ts.max())
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)

    def user_features(self, reference_ts: int) -> pa.Table:
        n = len(self.users)
        last = self.user["last"][:n]
        table = pa.table(
            {
                "user_id": self.users.values(),
                "recency_days": pa.array(np.round((reference_ts - last) / SECONDS_PER_DAY, 4)),
                "frequency": pa.array(self.user_invoices.counts(n)[:n], pa.int64()),
                "monetary": pa.array(np.round(self.user["monetary"][:n], 2)),
                "country": pc.take(self.countries.values(), pa.array(self.user["country"][:n])),
                "first_purchase": pa.array(self.user["first"][:n]),
                "last_purchase": pa.array(last),
            }
        )
        return table.sort_by("user_id")

    def item_features(self) -> pa.Table:
        n = len(self.items)
        lines = self.item["lines"][:n]
        table = pa.table(
            {
                "item_id": self.items.values(),
                "description": pc.take(self.descriptions.values(), pa.array(self.item["description"][:n])),
                "unit_price": pa.array(np.round(self.item["price_sum"][:n] / np.maximum(lines, 1), 4)),
                "popularity": pa.array(lines),
                "quantity": pa.array(self.item["quantity"][:n]),
                "buyers": pa.array(self.item_buyers.counts(n)[:n], pa.int64()),
            }
        )
        return table.sort_by("item_id")
