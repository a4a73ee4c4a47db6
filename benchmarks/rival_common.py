"""What the DuckDB and Polars rivals share with the job: feature encoding with the fitted model, the
result they report (the benchmark compares it with the job's), and RE2 patterns for Rust's regex."""

from __future__ import annotations

import pyarrow as pa

from include.preprocessing.model import PreprocessingModel


def encode_features(model: PreprocessingModel, users: pa.Table, items: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The job's encoding (country codes, log-standardised figures), applied to the rival's tables."""
    return model.encode_users(users), model.encode_items(items)


def result(rows_in: int, kept: int, by_reason: dict[str, int], users: pa.Table, items: pa.Table) -> dict:
    by_reason = {reason: int(count) for reason, count in sorted(by_reason.items()) if count}
    return {
        "rows_in": int(rows_in),
        "rows_out": int(kept),
        "rows_quarantined": sum(by_reason.values()),
        "quarantined_by_reason": by_reason,
        "users": users.num_rows,
        "items": items.num_rows,
    }


def ascii_digits(pattern: str) -> str:
    r"""RE2 (Arrow, DuckDB) reads `\d` as [0-9]; Rust's regex (Polars) as any Unicode digit."""
    return pattern.replace(r"\d", "[0-9]")
