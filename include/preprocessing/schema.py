"""The raw file's contract and the vocabulary of quarantine reasons, shared by every module."""

from __future__ import annotations

import pyarrow as pa

RAW_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Why a row is not an interaction. Order matters: a row is quarantined under its first reason.
WRONG_FIELD_COUNT = "wrong_field_count"
INVALID_NUMBER = "invalid_number"
INVALID_DATE = "invalid_date"
INVALID_INVOICE = "invalid_invoice"
CANCELLATION = "cancellation"
MISSING_CUSTOMER = "missing_customer"
NON_PRODUCT_CODE = "non_product_code"
NON_POSITIVE_QUANTITY = "non_positive_quantity"
NON_POSITIVE_PRICE = "non_positive_price"
QUANTITY_OUTLIER = "quantity_outlier"
PRICE_OUTLIER = "price_outlier"
OUTSIDE_MONTH = "outside_month"
CUSTOM_RULE = "custom_rule"
REASONS = (
    WRONG_FIELD_COUNT,
    INVALID_NUMBER,
    INVALID_DATE,
    INVALID_INVOICE,
    CANCELLATION,
    MISSING_CUSTOMER,
    NON_PRODUCT_CODE,
    NON_POSITIVE_QUANTITY,
    NON_POSITIVE_PRICE,
    QUANTITY_OUTLIER,
    PRICE_OUTLIER,
    OUTSIDE_MONTH,
    CUSTOM_RULE,
)

EVENT_TYPE = "purchase"

INTERACTIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("timestamp", pa.int64()),  # epoch seconds, UTC
        ("event_type", pa.string()),
        ("event_value", pa.float64()),  # line revenue, GBP
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("invoice_no", pa.string()),
        ("country", pa.string()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [("line", pa.int64()), ("reason", pa.string())]
    + [(c, pa.string()) for c in RAW_COLUMNS]
    + [("raw_line", pa.string())]
)


class MalformedInput(Exception):
    """The file as a whole cannot be trusted (a wrong header, text that is not UTF-8, a column whose
    bad values pass the limit of `limits.py`); the message names the column and lines."""
