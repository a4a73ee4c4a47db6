"""The baseline the preprocessing job is measured against: the same rules, written the way most
pandas pipelines are - read the whole CSV with `read_csv`, then transform the DataFrame.

Kept functionally equal to the job on the export's values (same reasons, same outputs) so the
comparison is fair; the benchmark checks that both keep the same rows with the same counts per
reason. pandas' number parsing is laxer (`1e3`, `nan` parse), which the real data never tests.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from include.preprocessing.model import PreprocessingModel


def run(path: str, model: PreprocessingModel, out_dir: str) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows_in = len(df)
    df["ts"] = pd.to_datetime(df["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    qty = pd.to_numeric(df["Quantity"].str.strip(), errors="coerce")
    price = pd.to_numeric(df["UnitPrice"].str.strip(), errors="coerce")
    customer_text = df["CustomerID"].str.strip()
    customer = pd.to_numeric(customer_text.where(customer_text != ""), errors="coerce")
    invoice = df["InvoiceNo"].str.strip()
    item = df["StockCode"].str.strip().str.upper()
    rules = [
        ("invalid_number", qty.isna() | price.isna() | (customer.isna() & (customer_text != ""))),
        ("invalid_invoice", ~invoice.str.match(r"^C?\d{6,}$")),
        ("cancellation", invoice.str.startswith("C")),
        ("missing_customer", customer_text == ""),
        ("non_product_code", ~item.str.match(model.product_code_pattern)),
        ("non_positive_quantity", qty <= 0),
        ("non_positive_price", price <= 0),
        ("quantity_outlier", qty > model.quantity_cap),
        ("price_outlier", price > model.price_cap),
    ]
    reason = pd.Series(pd.NA, index=df.index, dtype="object")
    for name, mask in reversed(rules):
        reason = reason.mask(mask.fillna(False), name)
    bad = reason.notna()
    quarantine = df[bad].assign(reason=reason[bad])
    quarantine.to_csv(os.path.join(out_dir, "quarantine.csv.gz"), index=False)
    clean = pd.DataFrame(
        {
            "user_id": customer[~bad].astype("int64").astype(str),
            "item_id": item[~bad],
            "timestamp": df.loc[~bad, "ts"].astype("int64") // 10**9,
            "event_type": "purchase",
            "event_value": (qty[~bad] * price[~bad]).round(2),
            "quantity": qty[~bad].astype("int64"),
            "unit_price": price[~bad],
            "invoice_no": invoice[~bad],
            "country": df.loc[~bad, "Country"].str.strip(),
            "description": df.loc[~bad, "Description"].str.strip(),
        }
    )
    clean.drop(columns="description").to_parquet(os.path.join(out_dir, "interactions.parquet"), index=False)
    clean[["user_id", "item_id", "timestamp", "event_type", "event_value"]].set_axis(
        ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"], axis=1
    ).to_csv(os.path.join(out_dir, "personalize_interactions.csv"), index=False)
    reference = int(clean["timestamp"].max())
    users = clean.groupby("user_id").agg(
        last=("timestamp", "max"),
        frequency=("invoice_no", "nunique"),
        monetary=("event_value", "sum"),
        country=("country", "last"),
    )
    users["recency_days"] = (reference - users["last"]) / 86_400
    for name, scaler in model.user_scalers.items():
        users[f"{name}_z"] = (np.log1p(users[name].clip(lower=0)) - scaler.mean) / scaler.std
    users.reset_index().to_parquet(os.path.join(out_dir, "user_features.parquet"), index=False)
    items = clean.groupby("item_id").agg(
        unit_price=("unit_price", "mean"),
        popularity=("unit_price", "size"),
        quantity=("quantity", "sum"),
        buyers=("user_id", "nunique"),
        description=("description", "last"),
    )
    for name, scaler in model.item_scalers.items():
        items[f"{name}_z"] = (np.log1p(items[name].clip(lower=0)) - scaler.mean) / scaler.std
    items.reset_index().to_parquet(os.path.join(out_dir, "item_features.parquet"), index=False)
    by_reason = {str(k): int(v) for k, v in sorted(reason[bad].value_counts().items())}
    return {
        "rows_in": rows_in,
        "rows_out": len(clean),
        "rows_quarantined": int(bad.sum()),
        "quarantined_by_reason": by_reason,
        "users": len(users),
        "items": len(items),
    }
