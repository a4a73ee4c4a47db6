"""The A/B test's statistics, simulated over the conversion rates and traffic shares shops have.

    PYTHONPATH=. .venv/bin/python -m benchmarks.ab_sequential [--runs N] [--quick]

Each scenario is `runs` simulated tests looked at every `LOOK_EVERY` sessions (the DAG's periodic
check) up to `MAX_SESSIONS`, a look counting once each variant has `MIN_SESSIONS` (the DAG's
default). Sessions go to the challenger with the traffic share and convert at their variant's rate.
The decision is the one of `include.abtest.decision` with no minimum duration: the first look at
which the exact mixture test (`include.abtest.msprt.log_mixture`) reaches 1/alpha, in the
direction of the lift at that look.

For every conversion rate x challenger share: the A/A any-decision and false-promotion rates (each
must stay <= alpha), beside the plug-in normal-mixture mSPRT this replaced (unpooled variance,
tau = 0.2 x the rate, same looks); then for +10% and +20% relative lifts the power within the
horizon and the median sessions to a (right-way) decision.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from include.abtest.msprt import log_mixture

ALPHA = 0.05
LIFT_PRIOR = 0.1  # the DAG's default minimum detectable lift
LOOK_EVERY = 1000
MAX_SESSIONS = 2_000_000
MIN_SESSIONS = 200
RATES = (0.005, 0.01, 0.02, 0.05, 0.10, 0.30)
SHARES = (0.05, 0.10, 0.50)
LIFTS = (0.10, 0.20)
CHUNK = 250  # runs simulated at once (memory: CHUNK x looks arrays)


def simulate(rng, runs: int, share: float, rate_a: float, rate_b: float):
    """Cumulative sessions and conversions per arm at every look: arrays of shape (runs, looks)."""
    looks = MAX_SESSIONS // LOOK_EVERY
    n_b = rng.binomial(LOOK_EVERY, share, size=(runs, looks))
    c_a = rng.binomial(LOOK_EVERY - n_b, rate_a).cumsum(axis=1)
    c_b = rng.binomial(n_b, rate_b).cumsum(axis=1)
    n_b = n_b.cumsum(axis=1)
    n_a = LOOK_EVERY * np.arange(1, looks + 1) - n_b
    return n_a, c_a, n_b, c_b


def first(reject: np.ndarray) -> np.ndarray:
    """Index of the first look that rejects, -1 when none does."""
    return np.where(reject.any(axis=1), reject.argmax(axis=1), -1)


def exact_decisions(share, n_a, c_a, n_b, c_b):
    """Per run: the look index of the decision (-1: none) and its sign (+1 promote, -1 rollback)."""
    counted = np.minimum(n_a, n_b) >= MIN_SESSIONS
    reject = counted & (log_mixture(c_b, c_a + c_b, share, LIFT_PRIOR) >= math.log(1 / ALPHA))
    at = first(reject)
    row = np.arange(len(at))
    x, n = c_b[row, np.maximum(at, 0)], (c_a + c_b)[row, np.maximum(at, 0)]
    sign = np.sign(x * (1 - share) - (n - x) * share)  # lift > 0 <=> x / (n - x) > share / (1 - share)
    return at, np.where(at >= 0, sign, 0)


def plugin_decisions(rate, n_a, c_a, n_b, c_b):
    """The replaced test: normal-mixture mSPRT on p_B - p_A with the unpooled plug-in variance."""
    tau2 = (0.2 * rate) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        p_a, p_b = c_a / n_a, c_b / n_b
        var = p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b
        theta = p_b - p_a
        llr = 0.5 * np.log(var / (var + tau2)) + tau2 * theta**2 / (2 * var * (var + tau2))
        reject = (np.minimum(n_a, n_b) >= MIN_SESSIONS) & (var > 0) & (llr >= math.log(1 / ALPHA))
    at = first(reject)
    sign = np.sign(theta[np.arange(len(at)), np.maximum(at, 0)])
    return at, np.where(at >= 0, sign, 0)


def scenario(rng, runs: int, share: float, rate: float, lift: float, plugin: bool = False):
    ats, signs, old = [], [], []
    for start in range(0, runs, CHUNK):
        arms = simulate(rng, min(CHUNK, runs - start), share, rate, rate * (1 + lift))
        at, sign = exact_decisions(share, *arms)
        ats.append(at)
        signs.append(sign)
        if plugin:
            old.append(plugin_decisions(rate, *arms)[0] >= 0)
    return np.concatenate(ats), np.concatenate(signs), (np.concatenate(old).mean() if plugin else float("nan"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="simulated tests per cell (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 runs per cell")
    args = parser.parse_args(argv)
    runs = 200 if args.quick else args.runs
    rng = np.random.default_rng(20111)
    started = time.perf_counter()
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    print(
        f"{runs} simulated tests per cell; alpha={ALPHA}; prior lift {LIFT_PRIOR:.0%}; a look every "
        f"{LOOK_EVERY:,} sessions up to {MAX_SESSIONS:,} ({MAX_SESSIONS // LOOK_EVERY} looks), "
        f"{MIN_SESSIONS} sessions per variant before a look counts\n"
    )
    print(
        "| rate | share | A/A any decision | A/A false promotion | plug-in mSPRT A/A any (before) "
        "| +10% power | +10% median sessions | +20% power | +20% median sessions |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for rate in RATES:
        for share in SHARES:
            at, sign, old = scenario(rng, runs, share, rate, 0.0, plugin=True)
            any_rate, promote_rate = (at >= 0).mean(), (sign > 0).mean()
            worst = max(worst, any_rate)
            cells = [f"{rate:.1%}", f"{share:.0%}", f"{any_rate:.3f}", f"{promote_rate:.3f}", f"{old:.3f}"]
            for lift in LIFTS:
                at, sign, _ = scenario(rng, runs, share, rate, lift)
                right = at[sign > 0]
                median = f"{np.median((right + 1) * LOOK_EVERY):,.0f}" if right.size else "-"
                cells += [f"{(sign > 0).mean():.3f}", median]
            print("| " + " | ".join(cells) + " |", flush=True)
    print(
        f"\nworst A/A any-decision rate {worst:.3f} (alpha {ALPHA}; 3-sigma sampling bound at {runs} runs "
        f"{bound:.3f}); {time.perf_counter() - started:.0f}s"
    )
    return 0 if worst <= bound else 1


if __name__ == "__main__":
    sys.exit(main())
