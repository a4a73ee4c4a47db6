"""Params shared by the DAGs' trigger forms."""

from __future__ import annotations

from airflow.sdk import Param

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def month_param(description: str, title: str = "Month (YYYY-MM)") -> Param:
    """An optional month: empty lets the DAG derive it (from its run's date or an Asset event)."""
    return Param(None, type=["null", "string"], pattern=MONTH_PATTERN, title=title, description=description)
