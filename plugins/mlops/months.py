"""Which month a run is about, decided the same way by every monthly DAG."""

from __future__ import annotations

from typing import Any

import pendulum


def resolve_month(params: dict, dag_run: Any, triggering_asset_events: Any = None, asset: Any = None) -> str:
    """The `month` Param; else the month of the newest event of `asset` that triggered the run; else
    the month before the run's logical date (or, for a run without one, its `run_after`)."""
    month = params.get("month")
    if not month and asset is not None and triggering_asset_events:
        events = triggering_asset_events.get(asset) or []
        month = events[-1].extra.get("month") if events else None
    if not month:
        month = month_before(dag_run.logical_date or dag_run.run_after)
    return month


def month_before(when) -> str:
    return pendulum.instance(when).subtract(months=1).format("YYYY-MM")


def months_back(month: str, count: int, *, inclusive: bool = False) -> list[str]:
    """The `count` months before `month`, oldest first; with `inclusive`, ending with `month` itself."""
    start = pendulum.parse(f"{month}-01")
    offsets = range(count - 1, -1, -1) if inclusive else range(count, 0, -1)
    return [start.subtract(months=back).format("YYYY-MM") for back in offsets]


def month_end(month: str) -> str:
    """The month's last second, as Feature Store's event time."""
    return pendulum.parse(f"{month}-01", tz="UTC").end_of("month").format("YYYY-MM-DD[T]HH:mm:ss[Z]")
