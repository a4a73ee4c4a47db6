"""A chart of an A/B test's looks, for the reviewer of its outcome.

Each look is kept in the test's ledger record as one compact row (`row`): seconds since the start,
sessions and conversions per variant, the always-valid p-value at that look, the always-valid
confidence sequence for the relative lift (when the look counted). `render` draws three panels over
time - conversion rate per variant; lift with its confidence sequence and the zero line; p-value
(log scale) against alpha - and returns PNG bytes. matplotlib (Agg, no display) is imported only
here, so the test's decision path never loads it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

# elapsed_s, champion sessions, champion conversions, challenger sessions, challenger conversions,
# p_value, ci_low, ci_high (None when the look did not count yet)
FIELDS = ("elapsed_s", "a_n", "a_x", "b_n", "b_x", "p", "lo", "hi")


def row(figures: dict[str, Any]) -> list[Any]:
    """A look's figures (decision.Result.figures + elapsed_s) as one compact row of FIELDS."""

    def number(key: str) -> float | None:
        value = figures.get(key)
        return None if value is None or not math.isfinite(float(value)) else round(float(value), 6)

    return [
        round(float(figures.get("elapsed_s", 0.0)), 1),
        int(figures["champion"]["sessions"]),
        int(figures["champion"]["conversions"]),
        int(figures["challenger"]["sessions"]),
        int(figures["challenger"]["conversions"]),
        number("p_value"),
        number("ci_low"),
        number("ci_high"),
    ]


def render(history: Sequence[Sequence[Any]], *, title: str, alpha: float) -> bytes:
    """PNG of the looks in `history` (rows of FIELDS, in order). ValueError when there is none."""
    if not history:
        raise ValueError("no looks to chart")
    for index, look in enumerate(history):
        if len(look) != len(FIELDS):
            raise ValueError(f"look {index} has {len(look)} fields, not {len(FIELDS)} ({', '.join(FIELDS)})")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    hours = [look[0] / 3600 for look in history]
    rate_a = [look[2] / look[1] if look[1] else math.nan for look in history]
    rate_b = [look[4] / look[3] if look[3] else math.nan for look in history]

    def series(column: int) -> list[float]:
        return [math.nan if look[column] is None else look[column] for look in history]

    p, lo, hi = series(5), series(6), series(7)
    lift = [
        b / a - 1 if a and not math.isnan(a) and not math.isnan(b) else math.nan
        for a, b in zip(rate_a, rate_b, strict=True)
    ]
    figure, (rates, lifts, pvalues) = plt.subplots(3, 1, figsize=(8, 9), sharex=True, constrained_layout=True)
    try:
        figure.suptitle(title)
        rates.plot(hours, rate_a, marker=".", label=f"champion ({history[-1][2]}/{history[-1][1]})")
        rates.plot(hours, rate_b, marker=".", label=f"challenger ({history[-1][4]}/{history[-1][3]})")
        rates.set_ylabel("conversion rate")
        rates.legend(loc="best")
        lifts.plot(hours, lift, color="black", marker=".", label="observed lift")
        lifts.fill_between(hours, lo, hi, alpha=0.3, label=f"always-valid {1 - alpha:.0%} interval")
        lifts.axhline(0.0, color="grey", linewidth=1)
        finite = [v for v in (*hi, *lift) if not math.isnan(v)]
        if finite:  # the first looks' intervals are huge: keep the axis on where the test ended up
            last = next((v for v in reversed(hi) if not math.isnan(v)), max(finite))
            lifts.set_ylim(-1.0, min(max(finite), max(1.0, 3 * abs(last))) * 1.05)
        lifts.set_ylabel("relative lift")
        lifts.legend(loc="best")
        pvalues.semilogy(hours, [max(v, 1e-12) if not math.isnan(v) else v for v in p], marker=".", label="p-value")
        pvalues.axhline(alpha, color="red", linestyle="--", label=f"alpha = {alpha:g}")
        pvalues.set_ylim(top=1.5)
        pvalues.set_ylabel("always-valid p-value")
        pvalues.set_xlabel("hours since the start")
        pvalues.legend(loc="best")
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=100)
    finally:
        plt.close(figure)
    return out.getvalue()
