"""The A/B test's statistics, simulated: false promotions under continuous monitoring, and power.

    PYTHONPATH=. .venv/bin/python -m benchmarks.ab_sequential

Each scenario is thousands of simulated tests, looked at every `LOOK_EVERY` sessions (the DAG's
periodic check) up to `MAX_SESSIONS`; sessions go to the challenger with the traffic share and
convert with their variant's rate. Both tables go to the README.

1. A/A (identical variants): how often each test wrongly promotes, for the mSPRT (decision code of
   `include.abtest`) and for a naive fixed-horizon two-proportion z-test repeated at every look.
2. A/B (true relative lift): the mSPRT's power within the horizon, the median sessions it needs to
   decide, and the sessions by which 80% of the tests have promoted - beside the sessions a single
   fixed-horizon z-test needs for the same 80% power (which it only has if nobody peeks).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from scipy.stats import norm

from include.abtest.msprt import binomial_variance, log_likelihood_ratio

RUNS = 5000
ALPHA = 0.05
BASELINE = 0.10  # champion conversion rate
MDE = 0.01  # absolute: tau of the mixture (10% relative lift on BASELINE)
LOOK_EVERY = 500
MAX_SESSIONS = 200_000
MIN_SESSIONS = 100  # per variant before a look counts (as in the DAG's default)
SHARES = (0.1, 0.5)
LIFTS = (0.10, 0.20)  # relative


def simulate(rng, share: float, rate_a: float, rate_b: float):
    """Cumulative (sessions, conversions) per arm at every look: arrays of shape (RUNS, looks)."""
    looks = MAX_SESSIONS // LOOK_EVERY
    n_b = rng.binomial(LOOK_EVERY, share, size=(RUNS, looks))
    n_a = LOOK_EVERY - n_b
    conv_a = rng.binomial(n_a, rate_a).cumsum(axis=1)
    conv_b = rng.binomial(n_b, rate_b).cumsum(axis=1)
    return n_a.cumsum(axis=1), conv_a, n_b.cumsum(axis=1), conv_b


def first_crossing(reject: np.ndarray) -> np.ndarray:
    """Index of the first look that rejects, -1 when none does."""
    hit = reject.any(axis=1)
    return np.where(hit, reject.argmax(axis=1), -1)


def decisions(n_a, c_a, n_b, c_b):
    """(mSPRT, naive z) -> per run: look index of the decision and its sign (+1 promote, -1 rollback)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = c_b / n_b - c_a / n_a
        var = binomial_variance(c_a, n_a, c_b, n_b)
        valid = (np.minimum(n_a, n_b) >= MIN_SESSIONS) & (var > 0)
        llr = np.where(valid, log_likelihood_ratio(theta, var, MDE**2), -np.inf)
        pooled = (c_a + c_b) / (n_a + n_b)
        z = np.where(valid, theta / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b)), 0.0)
    out = {}
    for name, reject in (("msprt", llr >= math.log(1 / ALPHA)), ("naive_z", np.abs(z) >= norm.ppf(1 - ALPHA / 2))):
        at = first_crossing(reject)
        sign = np.where(at >= 0, np.sign(np.take_along_axis(theta, np.maximum(at, 0)[:, None], axis=1)[:, 0]), 0)
        out[name] = (at, sign)
    return out


def fixed_horizon_sessions(share: float, rate_a: float, rate_b: float, power: float) -> float:
    """Total sessions a single z-test at ALPHA needs for `power` with this split."""
    if not 0 < power < 1:
        return float("nan")
    per_session = rate_a * (1 - rate_a) / (1 - share) + rate_b * (1 - rate_b) / share
    z = norm.ppf(1 - ALPHA / 2) + norm.ppf(power)
    return per_session * (z / (rate_b - rate_a)) ** 2


def main() -> int:
    rng = np.random.default_rng(20111)
    started = time.perf_counter()
    print(
        f"{RUNS} simulated tests per row; alpha={ALPHA}; champion rate {BASELINE}; mixture tau={MDE}; "
        f"a look every {LOOK_EVERY} sessions up to {MAX_SESSIONS:,}\n"
    )
    print("A/A: identical variants, looked at every check")
    print(
        "| challenger share | mSPRT false promotions | mSPRT any false decision "
        "| naive z false promotions | naive z any |"
    )
    print("|---|---|---|---|---|")
    for share in SHARES:
        result = decisions(*simulate(rng, share, BASELINE, BASELINE))
        m_at, m_sign = result["msprt"]
        z_at, z_sign = result["naive_z"]
        print(
            f"| {share:.0%} | {(m_sign > 0).mean():.4f} | {(m_at >= 0).mean():.4f} "
            f"| {(z_sign > 0).mean():.4f} | {(z_at >= 0).mean():.4f} |"
        )
    print("\nA/B: the challenger converts better by the relative lift")
    print(
        "| share | lift | mSPRT power in horizon | mSPRT median sessions | mSPRT sessions to 80% power | "
        "fixed-horizon sessions for 80% power | ratio | wrong-way decisions |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for share in SHARES:
        for lift in LIFTS:
            rate_b = BASELINE * (1 + lift)
            m_at, m_sign = decisions(*simulate(rng, share, BASELINE, rate_b))["msprt"]
            power = float((m_sign > 0).mean())
            decided = m_at[m_sign > 0]
            median = float(np.median((decided + 1) * LOOK_EVERY)) if decided.size else float("nan")
            # sessions by which 80% of all runs have promoted (nan when power stays below 80%)
            times = np.sort(np.where(m_sign > 0, (m_at + 1) * LOOK_EVERY, np.inf))
            p80 = float(times[math.ceil(0.8 * RUNS) - 1])
            fixed = fixed_horizon_sessions(share, BASELINE, rate_b, 0.8)
            print(
                f"| {share:.0%} | +{lift:.0%} | {power:.3f} | {median:,.0f} | {p80:,.0f} | {fixed:,.0f} | "
                f"{p80 / fixed:.2f} | {(m_sign < 0).mean():.4f} |"
            )
    print(f"\n{time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
