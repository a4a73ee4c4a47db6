"""Row rules: one batch of raw, all-text purchase lines in; clean interactions and quarantined rows out.

Vectorised with Arrow compute (no Python per row): that is what makes the job several times faster
than a pandas implementation. Every row leaves either as an interaction or as a quarantine row
with the first reason that applies (`schema.REASONS` order), so rows in = rows out + quarantined.

One rule per column, whatever the block a row falls in: numbers and dates are checked against
their pattern on the block's distinct values (a few hundred to a few thousand), then parsed and
spread to the rows. A value that breaks its pattern, overflows or is not finite is a bad value:
its row is quarantined (`invalid_number`, `invalid_date`) and counted per column in
`BatchResult.bad_values`; the job refuses the file only when a column's bad share passes the
limit (`limits.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from include.preprocessing import limits, schema

# No exponent, no `+`, no nan or inf: what the export writes, not all a float parser accepts.
_INTEGER = r"^-?\d{1,18}$"  # 18 digits always fit an int64: a longer quantity is an overflow
_DECIMAL = r"^-?(\d+\.?\d*|\.\d+)$"
_CUSTOMER = r"^-?\d{1,18}(\.0*)?$"  # an integer id, written 17850 or 17850.0 in the export
_DATE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_REASON_NAMES = pa.array(schema.REASONS, pa.string())
_NULL_TEXT = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class Rules:
    """The parts of the fitted model that decide row by row."""

    product_code_pattern: str
    quantity_cap: float
    price_cap: float
    month_start: int | None = None  # epoch seconds, inclusive
    month_end: int | None = None  # epoch seconds, exclusive


@dataclass
class BadValues:
    """Bad values of one column in a batch: how many, and the first few with their lines."""

    count: int = 0
    lines: list[int] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    def add(self, other: BadValues) -> None:
        self.count += other.count
        room = limits.EXAMPLES - len(self.lines)
        if room > 0:
            self.lines += other.lines[:room]
            self.values += other.values[:room]


@dataclass
class BatchResult:
    clean: pa.Table
    quarantine: pa.Table
    reason_counts: dict[str, int]
    descriptions: pa.Array  # Description of each clean row, for the item features
    lines: np.ndarray  # line number of each clean row
    bad_values: dict[str, BadValues] = field(default_factory=dict)  # per raw column, only those with any
    duplicates: int = 0  # lines identical to an earlier line (see `Duplicates`)


def _distinct(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    encoded = pc.dictionary_encode(column)
    return pc.utf8_trim_whitespace(encoded.dictionary), encoded.indices.to_numpy(zero_copy_only=False)


def _parse(distinct: pa.Array, pattern: str, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """(values, valid) of distinct trimmed texts: the pattern decides, then a cast that cannot fail."""
    valid = pc.fill_null(pc.match_substring_regex(distinct, pattern), False)
    values = pc.cast(pc.if_else(valid, distinct, _NULL_TEXT), target)
    if pa.types.is_floating(target):  # 400 digits parse to inf: an overflow, not a price
        valid = pc.and_(valid, pc.fill_null(pc.is_finite(values), False))
    return values, valid.to_numpy(zero_copy_only=False)


def _customers(distinct: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(user id text, valid, empty) of distinct trimmed CustomerIDs: `17850.0` -> `17850`."""
    empty = pc.equal(pc.utf8_length(distinct), 0).to_numpy(zero_copy_only=False)
    valid = pc.fill_null(pc.match_substring_regex(distinct, _CUSTOMER), False)
    digits = pc.replace_substring_regex(pc.if_else(valid, distinct, _NULL_TEXT), r"\.0*$", "")
    ids = pc.cast(pc.cast(digits, pa.int64()), pa.string())  # leading zeros go, as from a number
    return ids, valid.to_numpy(zero_copy_only=False), empty


def _dates(distinct: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Epoch seconds of distinct dates, valid only when `YYYY-MM-DD HH:MM:SS` names a real instant.
    Arrow's ISO cast is strict (no 2011-02-30, no 24:00:00) but all-or-nothing; when it refuses
    one value, strptime parses them all and a value is valid only if it prints back as itself
    (strptime alone would turn 2011-02-30 into March 2nd)."""
    shaped = pc.fill_null(pc.match_substring_regex(distinct, _DATE), False)
    text = pc.if_else(shaped, distinct, _NULL_TEXT)
    try:
        stamps = pc.cast(text, pa.timestamp("s"))
        valid = shaped
    except pa.ArrowInvalid:
        stamps = pc.strptime(text, format=schema.DATE_FORMAT, unit="s", error_is_null=True)
        valid = pc.fill_null(pc.equal(pc.strftime(stamps, format=schema.DATE_FORMAT), distinct), False)
        stamps = pc.if_else(valid, stamps, pa.scalar(None, stamps.type))
    return pc.cast(stamps, pa.int64()), valid.to_numpy(zero_copy_only=False)


def _bad(column: pa.Array, bad_rows: np.ndarray, lines: np.ndarray) -> BadValues | None:
    count = int(bad_rows.sum())
    if not count:
        return None
    first = np.flatnonzero(bad_rows)[: limits.EXAMPLES]
    return BadValues(count, [int(lines[i]) for i in first], [column[int(i)].as_py() for i in first])


def _item_codes(column: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Normalised stock codes, whether each is a product, and each row's distinct-code index. Done on
    the distinct codes (a few thousand per block), then spread: regexes on every row were the
    transform's largest cost."""
    encoded = pc.dictionary_encode(column)
    codes = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    is_product = pc.fill_null(pc.match_substring_regex(codes, pattern), False)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return pc.take(codes, encoded.indices), pc.take(is_product, encoded.indices), indices


def apply(batch: pa.RecordBatch | pa.Table, lines: np.ndarray, rules: Rules) -> BatchResult:
    """Split one batch. `lines` holds each row's line number in the file, for quarantine and errors."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    n = table.num_rows
    col = {name: table.column(name).combine_chunks() for name in schema.RAW_COLUMNS}

    date_text, date_index = _distinct(col["InvoiceDate"])
    date_values, date_ok = _dates(date_text)
    quantity_text, quantity_index = _distinct(col["Quantity"])
    quantity_values, quantity_ok = _parse(quantity_text, _INTEGER, pa.int64())
    price_text, price_index = _distinct(col["UnitPrice"])
    price_values, price_ok = _parse(price_text, _DECIMAL, pa.float64())
    customer_text, customer_index = _distinct(col["CustomerID"])
    customer_ids, customer_ok, customer_empty = _customers(customer_text)

    ts = pc.take(date_values, date_index)
    quantity = pc.take(quantity_values, quantity_index)
    price = pc.take(price_values, price_index)
    bad_date = ~date_ok[date_index]
    bad_quantity = ~quantity_ok[quantity_index]
    bad_price = ~price_ok[price_index]
    no_customer = customer_empty[customer_index]
    bad_customer = ~(customer_ok | customer_empty)[customer_index]
    bad_values = {
        name: found
        for name, mask in (
            ("InvoiceDate", bad_date),
            ("Quantity", bad_quantity),
            ("UnitPrice", bad_price),
            ("CustomerID", bad_customer),
        )
        if (found := _bad(col[name], mask, lines)) is not None
    }

    invoice = pc.utf8_trim_whitespace(col["InvoiceNo"])
    invoice_digits = pc.utf8_ltrim(invoice, "C")
    digits = pc.utf8_length(invoice_digits)  # 6 to 12 digits: the features key invoices in 40 bits
    invoice_ok = pc.and_(
        pc.ascii_is_decimal(invoice_digits), pc.and_(pc.greater_equal(digits, 6), pc.less_equal(digits, 12))
    )
    item, is_product, item_index = _item_codes(col["StockCode"], rules.product_code_pattern)

    masks = {
        schema.INVALID_NUMBER: bad_quantity | bad_price | bad_customer,
        schema.INVALID_DATE: bad_date,
        schema.INVALID_INVOICE: pc.invert(invoice_ok),
        schema.CANCELLATION: pc.starts_with(invoice, "C"),
        schema.MISSING_CUSTOMER: no_customer,
        schema.NON_PRODUCT_CODE: pc.invert(is_product),
        schema.NON_POSITIVE_QUANTITY: pc.less_equal(quantity, 0),
        schema.NON_POSITIVE_PRICE: pc.less_equal(price, 0.0),
        schema.QUANTITY_OUTLIER: pc.greater(quantity, rules.quantity_cap),
        schema.PRICE_OUTLIER: pc.greater(price, rules.price_cap),
    }
    if rules.month_start is not None and rules.month_end is not None:
        masks[schema.OUTSIDE_MONTH] = pc.or_(pc.less(ts, rules.month_start), pc.greater_equal(ts, rules.month_end))

    reason = np.full(n, -1, dtype=np.int8)
    for index in range(len(schema.REASONS) - 1, -1, -1):
        mask = masks.get(schema.REASONS[index])
        if mask is None:
            continue
        if not isinstance(mask, np.ndarray):
            mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
        reason[mask] = index
    keep = reason < 0
    counts = np.bincount(reason[~keep], minlength=len(schema.REASONS))
    reason_counts = {schema.REASONS[i]: int(c) for i, c in enumerate(counts) if c}

    keep_mask = pa.array(keep)
    quantity_kept = pc.filter(quantity, keep_mask)
    price_kept = pc.filter(price, keep_mask)
    clean = pa.table(
        {
            "user_id": pc.take(customer_ids, customer_index[keep]),
            "item_id": pc.filter(item, keep_mask),
            "timestamp": pc.filter(ts, keep_mask),
            "event_type": pa.repeat(schema.EVENT_TYPE, int(keep.sum())).cast(pa.string()),
            "event_value": pc.round(pc.multiply(pc.cast(quantity_kept, pa.float64()), price_kept), 2),
            "quantity": quantity_kept,
            "unit_price": price_kept,
            "invoice_no": pc.filter(invoice, keep_mask),
            "country": pc.filter(pc.utf8_trim_whitespace(col["Country"]), keep_mask),
        },
        schema=schema.INTERACTIONS_SCHEMA,
    )

    drop = np.flatnonzero(~keep)
    quarantined = table.take(pa.array(drop)) if len(drop) else table.slice(0, 0)
    quarantine = pa.table(
        {
            "line": pa.array(lines[drop], pa.int64()),
            "reason": pa.DictionaryArray.from_arrays(reason[drop], _REASON_NAMES).cast(pa.string()),
            **{name: quarantined.column(name) for name in schema.RAW_COLUMNS},
            "raw_line": pa.nulls(len(drop), pa.string()),
        },
        schema=schema.QUARANTINE_SCHEMA,
    )
    descriptions = pc.filter(col["Description"], keep_mask)  # trimmed by the features, on the few it keeps
    return BatchResult(
        clean=clean,
        quarantine=quarantine,
        reason_counts=reason_counts,
        descriptions=descriptions,
        lines=lines[keep],
        bad_values=bad_values,
        duplicates=_row_keys_duplicates(col, date_index, item_index) if n > 1 else 0,
    )


# --- exact duplicate lines -------------------------------------------------------------------------
def _joined(col: dict[str, pa.Array], rows: np.ndarray | None = None) -> pa.Array:
    parts = [col[name] if rows is None else pc.take(col[name], rows) for name in schema.RAW_COLUMNS]
    return pc.binary_join_element_wise(*parts, "\x1f")


def _row_keys_duplicates(col: dict[str, pa.Array], date_index: np.ndarray, item_index: np.ndarray) -> int:
    """Lines of the batch identical to an earlier line of the batch. Identical lines share their
    date and stock code, and the rules computed both as distinct-value indices anyway: lines whose
    (date, item) pair repeats are the candidates (a few percent), and only those are compared as
    whole lines, so the cost stays a fraction of joining every row."""
    items = int(item_index.max()) + 1
    pair = date_index.astype(np.int64) * items + item_index
    if int(pair.max()) < 2**31:  # sorting 4-byte keys is about twice as fast
        pair = pair.astype(np.int32)
    ordered = np.sort(pair)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:
        return 0
    rows = np.flatnonzero(pc.is_in(pa.array(pair), value_set=pa.array(np.unique(repeated))).to_numpy(False))
    joined = _joined(col, rows)
    return len(joined) - pc.count_distinct(joined).as_py()


class Duplicates:
    """Exact duplicate lines of a file: within each batch (`BatchResult.duplicates`) and across a
    batch boundary, where an invoice's lines (listed together by the export) may be split.

    The rule: duplicates are counted and kept. The source has no line number of its own, so two
    identical lines of one invoice may be one re-sent line or the same item entered twice; the
    report shows how many, and a consumer that wants distinct lines can drop them.
    """

    def __init__(self) -> None:
        self.count = 0
        self._invoice: str | None = None
        self._tail: pa.Array = pa.array([], pa.string())  # whole lines of the last invoice seen

    def add(self, table: pa.Table | pa.RecordBatch, within: int) -> None:
        self.count += within
        if table.num_rows == 0:
            return
        col = {name: table.column(name) for name in schema.RAW_COLUMNS}
        col = {k: v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for k, v in col.items()}
        invoices = col["InvoiceNo"]
        if self._invoice is not None:
            head = np.flatnonzero(pc.equal(invoices, self._invoice).to_numpy(zero_copy_only=False))
            if len(head):
                lines = pc.unique(_joined(col, head))
                self.count += int(pc.sum(pc.is_in(lines, value_set=self._tail)).as_py() or 0)
        last = invoices[len(invoices) - 1].as_py()
        tail = np.flatnonzero(pc.equal(invoices, last).to_numpy(zero_copy_only=False))
        lines = _joined(col, tail)
        if last == self._invoice:
            lines = pa.concat_arrays([self._tail, lines])
        self._invoice, self._tail = last, pc.unique(lines)
