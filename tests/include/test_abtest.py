"""The exact mixture test on the challenger's share of conversions, checked by hand and by simulation
at shop conversion rates, and the promotion decision rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from include.abtest import decision as d
from include.abtest import rollout
from include.abtest.msprt import Arm, evidence, log_mixture, prior_size, share_under

ALPHA = 0.05


def test_mixture_matches_the_beta_binomial_bayes_factor_by_hand():
    # 12 of 80 conversions are the challenger's at a 10% share; prior mean 0.1, size from a 10% lift
    size = 1 / (0.1 * 0.9 * math.log1p(0.1) ** 2) - 1
    a, b = 0.1 * size, 0.9 * size

    def log_beta(x, y):
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    by_hand = log_beta(a + 12, b + 68) - log_beta(a, b) - 12 * math.log(0.1) - 68 * math.log(0.9)
    assert float(prior_size(0.1, 0.1)) == pytest.approx(size)
    assert float(log_mixture(12, 80, 0.1, 0.1)) == pytest.approx(by_hand, rel=1e-8)
    ev = evidence(Arm(900, 68), Arm(100, 12), share=0.1, lift=0.1, alpha=ALPHA)
    assert ev.p_value == pytest.approx(min(1.0, math.exp(-by_hand)))
    # the lift from the share of conversions: (12/68) / (0.1/0.9) - 1
    assert ev.lift == pytest.approx(12 / 68 / (1 / 9) - 1)
    assert share_under(0.1, 0.0) == pytest.approx(0.1)
    assert share_under(0.1, math.log(2)) == pytest.approx(0.2 / 1.1)


def test_the_confidence_sequence_holds_the_estimate_and_excludes_no_lift_exactly_when_significant():
    flat = evidence(Arm(90_000, 1_800), Arm(10_000, 200), share=0.1, lift=0.1, alpha=ALPHA)
    assert flat.p_value == 1.0 and flat.ci_low < 0 < flat.ci_high and abs(flat.lift) < 1e-12
    up = evidence(Arm(90_000, 1_800), Arm(10_000, 260), share=0.1, lift=0.1, alpha=ALPHA)
    assert up.p_value < ALPHA and 0 < up.ci_low < up.lift < up.ci_high and up.direction == 1
    down = evidence(Arm(90_000, 1_800), Arm(10_000, 140), share=0.1, lift=0.1, alpha=ALPHA)
    assert down.p_value < ALPHA and down.ci_low < down.lift < down.ci_high < 0 and down.direction == -1
    # at a 50% share the test is symmetric in the arms
    a = evidence(Arm(5_000, 100), Arm(5_000, 140), share=0.5, lift=0.1, alpha=ALPHA)
    b = evidence(Arm(5_000, 140), Arm(5_000, 100), share=0.5, lift=0.1, alpha=ALPHA)
    assert a.p_value == pytest.approx(b.p_value) and a.lift == pytest.approx(1 / (1 + b.lift) - 1)
    # no conversions yet: no evidence, an estimate of no lift
    none = evidence(Arm(900, 0), Arm(100, 0), share=0.1, lift=0.1, alpha=ALPHA)
    assert none.p_value == 1.0 and none.lift == 0.0 and none.direction == 0


def _aa_simulation(seed: int, runs: int, share: float, rate: float, lift: float = 0.0, looks: int = 400):
    """Cumulative counts at a look every 500 sessions up to 200,000: arrays (runs, looks)."""
    rng = np.random.default_rng(seed)
    n_b = rng.binomial(500, share, size=(runs, looks))
    c_a = rng.binomial(500 - n_b, rate).cumsum(axis=1)
    c_b = rng.binomial(n_b, rate * (1 + lift)).cumsum(axis=1)
    n_b = n_b.cumsum(axis=1)
    return 500 * np.arange(1, looks + 1) - n_b, c_a, n_b, c_b


@pytest.mark.parametrize(("share", "seed"), [(0.05, 11), (0.10, 12)])
def test_identical_variants_at_a_one_percent_rate_and_an_unequal_split_decide_at_most_alpha(share, seed):
    """A/A at 1% conversion, a 5% or 10% challenger share, looked at every 500 sessions (400 looks,
    the DAG's 200 sessions per variant before a look counts): the plug-in mSPRT decided in ~15-20%
    of these. 2,000 seeded runs: if the true rate were alpha, the observed rate would exceed
    alpha + 3 sigma (binomial sd sqrt(alpha (1 - alpha) / runs) = 0.0049) with probability ~0.1%."""
    runs = 2000
    n_a, c_a, n_b, c_b = _aa_simulation(seed, runs, share, 0.01)
    counted = np.minimum(n_a, n_b) >= 200
    decided = (counted & (log_mixture(c_b, c_a + c_b, share, 0.1) >= math.log(1 / ALPHA))).any(axis=1)
    assert decided.mean() <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    # the look function decides exactly where the vectorised statistic does
    settings = d.Settings(alpha=ALPHA, min_detectable_lift=0.1, traffic_share=share, min_sessions=200)
    run = int(np.argmax(decided)) if decided.any() else 0
    for look in (50, 199, 399):
        champion = Arm(int(n_a[run, look]), int(c_a[run, look]))
        challenger = Arm(int(n_b[run, look]), int(c_b[run, look]))
        out = d.look(champion, challenger, elapsed_s=0, settings=settings)
        significant = log_mixture(challenger.conversions, champion.conversions + challenger.conversions, share, 0.1)
        assert (out.outcome in (d.PROMOTE, d.ROLLBACK)) == (bool(counted[run, look]) and significant >= math.log(20))


def test_power_at_a_large_lift():
    """+50% at a 5% rate and a 10% share: nearly every test promotes within 200,000 sessions, none
    rolls back."""
    n_a, c_a, n_b, c_b = _aa_simulation(13, 300, 0.1, 0.05, lift=0.5)
    reject = (np.minimum(n_a, n_b) >= 200) & (log_mixture(c_b, c_a + c_b, 0.1, 0.1) >= math.log(1 / ALPHA))
    at = np.where(reject.any(axis=1), reject.argmax(axis=1), -1)
    rows = np.arange(len(at))
    x, n = c_b[rows, np.maximum(at, 0)], (c_a + c_b)[rows, np.maximum(at, 0)]
    promoted = (at >= 0) & (x * 0.9 > (n - x) * 0.1)
    assert promoted.mean() >= 0.95 and ((at >= 0) & ~promoted).sum() == 0


SETTINGS = d.Settings(
    alpha=ALPHA, min_detectable_lift=0.1, traffic_share=0.1, min_sessions=100, min_duration_s=3600, max_duration_s=86400
)


def test_promote_when_the_challenger_is_significantly_better():
    out = d.look(Arm(90_000, 1_800), Arm(10_000, 260), elapsed_s=3700, settings=SETTINGS)
    assert out.outcome == d.PROMOTE and out.state.p_value < ALPHA and "better" in out.reason
    figures = out.figures(Arm(90_000, 1_800), Arm(10_000, 260))
    assert figures["lift"] == pytest.approx(0.3) and figures["ci_low"] > 0
    assert figures["p_value"] == figures["p_value_min"] < ALPHA


def test_rollback_when_significantly_worse_or_on_a_guardrail_alarm():
    worse = d.look(Arm(90_000, 1_800), Arm(10_000, 140), elapsed_s=3700, settings=SETTINGS)
    assert worse.outcome == d.ROLLBACK and "worse" in worse.reason
    alarm = d.look(Arm(10, 1), Arm(10, 1), elapsed_s=1, settings=SETTINGS, challenger_alarms=["x-latency", "x-latency"])
    assert alarm.outcome == d.ROLLBACK and "x-latency" in alarm.reason and alarm.evidence is None
    assert alarm.alarms == ["x-latency"]


def test_evidence_before_the_minimum_duration_cannot_decide_after_it_on_a_stale_direction():
    """A novelty effect: the challenger converts at 3.5% in the first 10,000 sessions (significant,
    but before the minimum duration), then at 1% - below the champion's 2%. The running minimum of
    the p-value would have promoted at the first look after the minimum duration; the decision on
    the evidence now waits, then rolls back once the reversal is itself significant."""
    early = d.look(Arm(9_000, 180), Arm(1_000, 70), elapsed_s=600, settings=SETTINGS)
    assert early.outcome == d.CONTINUE and "minimum duration" in early.reason
    assert early.state.p_value < ALPHA and early.evidence.direction == 1
    faded = d.look(Arm(45_000, 900), Arm(5_000, 110), elapsed_s=3700, settings=SETTINGS, state=early.state)
    assert faded.outcome == d.CONTINUE and "not significant now" in faded.reason
    assert faded.state.p_value == early.state.p_value and faded.state.looks == 2  # kept for the record only
    reversed_ = d.look(Arm(90_000, 1_800), Arm(10_000, 150), elapsed_s=7200, settings=SETTINGS, state=faded.state)
    assert reversed_.outcome == d.ROLLBACK and "worse" in reversed_.reason


def test_a_sample_ratio_mismatch_voids_the_test():
    out = d.look(Arm(9_000, 180), Arm(2_000, 45), elapsed_s=600, settings=SETTINGS)
    assert out.outcome == d.INCONCLUSIVE and "sample ratio mismatch" in out.reason and "18.18%" in out.reason
    fine = d.look(Arm(9_030, 180), Arm(970, 20), elapsed_s=600, settings=SETTINGS)
    assert fine.outcome == d.CONTINUE


def test_inconclusive_at_the_maximum_duration_and_waiting_for_sessions():
    flat = d.look(Arm(27_000, 540), Arm(3_000, 61), elapsed_s=86400, settings=SETTINGS)
    assert flat.outcome == d.INCONCLUSIVE and "champion stays" in flat.reason
    few = d.look(Arm(900, 5), Arm(50, 40), elapsed_s=100, settings=SETTINGS)
    assert few.outcome == d.CONTINUE and few.state.looks == 0 and "100 sessions" in few.reason


def test_settings_are_validated_with_the_field_named():
    with pytest.raises(ValueError, match="alpha"):
        d.Settings(alpha=1.5)
    with pytest.raises(ValueError, match="traffic_share"):
        d.Settings(traffic_share=1.0)
    with pytest.raises(ValueError, match=r"min_duration_s \(10\) must not exceed max_duration_s \(5\)"):
        d.Settings(min_duration_s=10, max_duration_s=5)
    assert d.State.from_dict({"looks": "3", "p_value": "0.2", "direction": "-1"}) == d.State(3, 0.2)
    with pytest.raises(ValueError, match=r"conversions 11 must be within 0\.\.sessions"):
        Arm(10, 11)


def test_params_are_validated_when_the_run_is_planned():
    params = {
        "alpha": 0.05,
        "min_detectable_lift": 0.1,
        "traffic_share": 0.1,
        "min_sessions": 200,
        "min_duration_hours": 48,
        "max_duration_hours": 24,
    }
    with pytest.raises(ValueError, match=r"min_duration_hours \(48\) must not exceed max_duration_hours \(24\)"):
        rollout.sequential_settings(params)
    with pytest.raises(ValueError, match="invalid A/B test Params: min_detectable_lift"):
        rollout.sequential_settings({**params, "min_duration_hours": 1, "min_detectable_lift": 0})
    ok = rollout.sequential_settings({**params, "min_duration_hours": 1})
    assert ok["min_duration_s"] == 3600 and ok["traffic_share"] == 0.1
