"""Row rules: one batch of raw, all-text purchase lines in; clean interactions and quarantined rows out.

Vectorised with Arrow compute (no Python per row): that is what makes the job several times faster
than a pandas implementation. Every row leaves either as an interaction or as a quarantine row
with the first reason that applies (`schema.REASONS` order), so rows in = rows out + quarantined.
An unparsable date is not a bad row but a bad file (a shifted column or another export format):
it raises `MalformedInput` naming the column and the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from include.preprocessing import schema

_INTEGER = r"^\s*-?\d+\s*$"
_DECIMAL = r"^\s*-?(\d+\.?\d*|\.\d+)\s*$"
_REASON_NAMES = pa.array(schema.REASONS, pa.string())


@dataclass(frozen=True)
class Rules:
    """The parts of the fitted model that decide row by row."""

    product_code_pattern: str
    quantity_cap: float
    price_cap: float
    month_start: int | None = None  # epoch seconds, inclusive
    month_end: int | None = None  # epoch seconds, exclusive


@dataclass
class BatchResult:
    clean: pa.Table
    quarantine: pa.Table
    reason_counts: dict[str, int]
    descriptions: pa.Array  # Description of each clean row, for the item features
    lines: np.ndarray  # line number of each clean row


def _numbers(column: pa.ChunkedArray | pa.Array, target: pa.DataType, pattern: str) -> tuple[pa.Array, pa.Array]:
    """Parse text to numbers; returns (values with nulls where unparsable, unparsable mask).
    Tries the plain cast first (the common case), then with whitespace trimmed, then row by row."""
    for text in (column, None):
        text = pc.utf8_trim_whitespace(column) if text is None else text
        try:
            values = pc.cast(text, target)
            return values, pc.is_null(values)  # is_null: empty text stays null, not an error
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    valid = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    values = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), target)
    return values, pc.invert(valid)


def parse_dates(column, lines: np.ndarray) -> pa.Array:
    """Timestamps in seconds. Fast path: Arrow's ISO-8601 cast, taken only when every value has the
    format's length (19 characters, so nothing but `YYYY-MM-DD HH:MM:SS` passes); otherwise, or if
    the cast fails, strptime finds the first bad value for the error message."""
    if pc.all(pc.equal(pc.utf8_length(column), 19)).as_py() is not False:
        try:
            return pc.cast(column, pa.timestamp("s"))
        except pa.ArrowInvalid:
            pass
    stamps = pc.strptime(column, format=schema.DATE_FORMAT, unit="s", error_is_null=True)
    bad = pc.is_null(stamps).to_numpy(zero_copy_only=False)
    if bad.any():
        first = int(np.argmax(bad))
        value = column[first].as_py()
        raise schema.MalformedInput(
            f"column InvoiceDate, line {int(lines[first])}: {value!r} is not a date in the format "
            f"{schema.DATE_FORMAT!r} ({int(bad.sum())} such values in this block)"
        )
    return stamps


def _item_codes(column: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array]:
    """Normalised stock codes and whether each is a product. Done on the distinct codes (a few
    thousand per block), then spread: regexes on every row were the transform's largest cost."""
    encoded = pc.dictionary_encode(column)
    codes = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    is_product = pc.fill_null(pc.match_substring_regex(codes, pattern), False)
    return pc.take(codes, encoded.indices), pc.take(is_product, encoded.indices)


def apply(batch: pa.RecordBatch | pa.Table, lines: np.ndarray, rules: Rules) -> BatchResult:
    """Split one batch. `lines` holds each row's line number in the file, for quarantine and errors."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    n = table.num_rows
    col = {name: table.column(name).combine_chunks() for name in schema.RAW_COLUMNS}

    stamps = parse_dates(col["InvoiceDate"], lines)
    quantity, bad_quantity = _numbers(col["Quantity"], pa.int64(), _INTEGER)
    price, bad_price = _numbers(col["UnitPrice"], pa.float64(), _DECIMAL)
    customer_text = col["CustomerID"]
    if pc.any(pc.match_substring(customer_text, " ")).as_py():
        customer_text = pc.utf8_trim_whitespace(customer_text)
    no_customer = pc.equal(pc.utf8_length(customer_text), 0)
    customer, bad_customer = _numbers(
        pc.if_else(no_customer, pa.scalar(None, pa.string()), customer_text), pa.float64(), _DECIMAL
    )
    bad_customer = pc.and_(bad_customer, pc.invert(no_customer))
    invoice = pc.utf8_trim_whitespace(col["InvoiceNo"])
    invoice_digits = pc.utf8_ltrim(invoice, "C")
    invoice_ok = pc.and_(pc.ascii_is_decimal(invoice_digits), pc.greater_equal(pc.utf8_length(invoice_digits), 6))
    item, is_product = _item_codes(col["StockCode"], rules.product_code_pattern)
    ts = pc.cast(stamps, pa.int64())

    masks = {
        schema.INVALID_NUMBER: pc.or_(pc.or_(bad_quantity, bad_price), bad_customer),
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
        if mask is not None:
            reason[pc.fill_null(mask, False).to_numpy(zero_copy_only=False)] = index
    keep = reason < 0
    counts = np.bincount(reason[~keep], minlength=len(schema.REASONS))
    reason_counts = {schema.REASONS[i]: int(c) for i, c in enumerate(counts) if c}

    keep_mask = pa.array(keep)
    quantity_kept = pc.filter(quantity, keep_mask)
    price_kept = pc.filter(price, keep_mask)
    clean = pa.table(
        {
            "user_id": pc.cast(pc.cast(pc.filter(customer, keep_mask), pa.int64()), pa.string()),
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
        clean=clean, quarantine=quarantine, reason_counts=reason_counts, descriptions=descriptions, lines=lines[keep]
    )
