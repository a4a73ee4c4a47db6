"""The quality gate on a preprocessed month: a month that is mostly rejected is a data problem.

The report is the job's own (`outputs.py`); thresholds come from the DAG's Params. Malformed rows
(wrong field count, unparsable numbers or dates) are counted apart from the business exclusions.
"""

from __future__ import annotations

MALFORMED_REASONS = ("wrong_field_count", "invalid_number", "invalid_date")


def problems(report: dict, *, max_quarantine_share: float, max_malformed_share: float, min_rows_out: int) -> list[str]:
    """Each threshold the report breaks, said with its figure; empty when the month passes."""
    rows_in = report["rows_in"] or 1
    reasons = report["quarantined_by_reason"]
    malformed = sum(reasons.get(name, 0) for name in MALFORMED_REASONS) / rows_in
    found = []
    if report["quarantine_share"] > max_quarantine_share:
        found.append(f"quarantined share {report['quarantine_share']:.3f} > {max_quarantine_share} ({reasons})")
    if malformed > max_malformed_share:
        found.append(f"malformed share {malformed:.4f} > {max_malformed_share}")
    if report["rows_out"] < min_rows_out:
        found.append(f"{report['rows_out']} clean rows < {min_rows_out}")
    return found


def summary(month: str, report: dict) -> str:
    return (
        f"{month}: {report['rows_in']:,} rows in, {report['rows_out']:,} out, "
        f"{report['rows_quarantined']:,} quarantined {report['quarantined_by_reason']}; "
        f"bad values {report.get('bad_values', {})}, {report.get('duplicate_lines', 0):,} duplicate lines; "
        f"{report['users']:,} users, {report['items']:,} items"
    )
