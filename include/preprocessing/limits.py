"""Limits shared by the raw-landing job and the preprocessing job, so that a file one accepts the
other accepts too. Standard library only: the raw-ingest image copies this module alone.

A stray bad value is a row problem (quarantined, counted); a file is refused only when the bad
values of one column (or the lines with a wrong field count) pass `max_bad_share` of its lines:
that is a format change (a shifted column, another date format), not a few odd rows. The share
is the SSM parameter `/<project>/<env>/preprocessing/max-bad-share` (default in infra/preprocessing.yaml).
"""

from __future__ import annotations

# A line must fit in one block of the job's CSV reader (Arrow cannot parse a row across blocks);
# the landing refuses a file with a longer line, so it never lands what the job cannot read.
MAX_LINE_BYTES = 8 << 20
DEFAULT_MAX_BAD_SHARE = 0.05
# Below this many bad values a file is never refused: a ten-line file with one odd row is not a
# format change (the DAG's quality gate judges small months by their clean rows).
MIN_BAD_TO_REFUSE = 20
EXAMPLES = 5  # lines quoted in a refusal


def parse_share(value: str | float | None, where: str) -> float:
    """A share in [0, 1] from a parameter value; ValueError naming `where` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_MAX_BAD_SHARE
    try:
        share = float(value)
    except ValueError:
        share = float("nan")
    if not 0.0 <= share <= 1.0:  # also false for nan
        raise ValueError(f"{where} = {value!r}: give a share between 0 and 1 (e.g. 0.05)")
    return share


def too_many(bad: int, rows: int, max_share: float) -> bool:
    return rows > 0 and bad >= MIN_BAD_TO_REFUSE and bad / rows > max_share


def refusal(what: str, bad: int, rows: int, max_share: float, lines: list[int], values: list[str] | None = None) -> str:
    """`<what>: 1,234 of 60,742 lines (2.0%) ...` with the first lines (and their values)."""
    shown = ", ".join(
        f"line {line}" + (f" {value[:40]!r}" if values is not None else "")
        for line, value in zip(lines[:EXAMPLES], values or [None] * len(lines), strict=False)
    )
    return (
        f"{what}: {bad:,} of {rows:,} lines ({bad / rows:.1%}) - more than the {max_share:.1%} allowed "
        f"(the max-bad-share preprocessing setting), a format change rather than stray rows; first at {shown}"
    )
