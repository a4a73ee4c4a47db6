"""Checks on the interactions before Personalize is paid to import and train on them.

Personalize needs at least 1,000 interactions and 25 users with two or more (its documented
minimum training requirements), and - as issue 20 requires, enforced before any spend - 100
distinct items; its import fails late (and bills) on a bad column or timestamp. These checks fail
early and say what is wrong, where.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from include.personalize.schema import INTERACTIONS_COLUMNS

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
MIN_ITEMS = 100
EARLIEST = 946684800  # 2000-01-01: older epoch seconds are a unit mistake (or milliseconds / 1000)


class InvalidInteractions(ValueError):
    pass


@dataclass(frozen=True)
class Summary:
    interactions: int
    users: int
    users_with_two: int
    items: int
    first_timestamp: int
    last_timestamp: int


def validate(frame: pd.DataFrame, source: str, now_epoch: int) -> Summary:
    columns = tuple(frame.columns)
    if columns != INTERACTIONS_COLUMNS:
        raise InvalidInteractions(
            f"{source}: columns are {list(columns)}, Personalize's schema needs {list(INTERACTIONS_COLUMNS)}"
        )
    for column in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if empty.any():
            raise InvalidInteractions(
                f"{source}: {column} is empty on {int(empty.sum())} row(s), first at row {int(empty.idxmax()) + 1}"
            )
    timestamps = pd.to_numeric(frame["TIMESTAMP"], errors="coerce")
    bad = timestamps.isna() | (timestamps < EARLIEST) | (timestamps > now_epoch + 86400)
    if bad.any():
        row = int(bad.idxmax())
        raise InvalidInteractions(
            f"{source}: TIMESTAMP must be epoch seconds between 2000-01-01 and now; row {row + 1} has "
            f"{str(frame['TIMESTAMP'].iloc[row])!r} ({int(bad.sum())} bad row(s))"
        )
    per_user = frame.groupby("USER_ID").size()
    summary = Summary(
        interactions=len(frame),
        users=int(per_user.size),
        users_with_two=int((per_user >= 2).sum()),
        items=int(frame["ITEM_ID"].nunique()),
        first_timestamp=int(timestamps.min()) if len(frame) else 0,
        last_timestamp=int(timestamps.max()) if len(frame) else 0,
    )
    if summary.interactions < MIN_INTERACTIONS:
        raise InvalidInteractions(
            f"{source}: {summary.interactions} interactions; Personalize needs at least {MIN_INTERACTIONS}"
        )
    if summary.users_with_two < MIN_USERS_WITH_TWO:
        raise InvalidInteractions(
            f"{source}: {summary.users_with_two} users with 2+ interactions; "
            f"Personalize needs at least {MIN_USERS_WITH_TWO}"
        )
    if summary.items < MIN_ITEMS:
        raise InvalidInteractions(f"{source}: {summary.items} distinct items; Personalize needs at least {MIN_ITEMS}")
    return summary
