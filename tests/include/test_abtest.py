"""The mSPRT statistic on hand-computed cases and the promotion decision rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from include.abtest import decision as d
from include.abtest.msprt import Arm, binomial_variance, evidence, log_likelihood_ratio


def test_likelihood_ratio_matches_the_closed_form_by_hand():
    champion, challenger = Arm(1000, 100), Arm(1000, 130)
    v = 0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000
    tau2 = 0.02**2
    expected = math.sqrt(v / (v + tau2)) * math.exp(tau2 * 0.03**2 / (2 * v * (v + tau2)))
    ev = evidence(champion, challenger, tau=0.02, alpha=0.05)
    assert ev.variance == pytest.approx(v)
    assert ev.theta_hat == pytest.approx(0.03)
    assert ev.likelihood_ratio == pytest.approx(expected, rel=1e-12)
    assert ev.likelihood_ratio == pytest.approx(2.5229, abs=1e-3)
    assert ev.p_value == pytest.approx(1 / expected)


def test_no_difference_gives_no_evidence_and_the_test_is_symmetric():
    ev = evidence(Arm(5000, 500), Arm(5000, 500), tau=0.02, alpha=0.05)
    assert ev.likelihood_ratio < 1 and ev.p_value == 1.0
    up = evidence(Arm(4000, 400), Arm(4000, 480), tau=0.02, alpha=0.05)
    down = evidence(Arm(4000, 480), Arm(4000, 400), tau=0.02, alpha=0.05)
    assert up.likelihood_ratio == pytest.approx(down.likelihood_ratio)
    assert up.theta_hat == pytest.approx(-down.theta_hat)


def test_confidence_sequence_edge_is_where_lambda_reaches_one_over_alpha():
    ev = evidence(Arm(2000, 300), Arm(500, 90), tau=0.03, alpha=0.05)
    half = ev.ci_high - ev.theta_hat
    assert ev.theta_hat - ev.ci_low == pytest.approx(half)
    at_edge = log_likelihood_ratio(half, ev.variance, 0.03**2)
    assert math.exp(at_edge) == pytest.approx(1 / 0.05)
    # a significant look's interval excludes 0 and vice versa
    strong = evidence(Arm(20000, 2000), Arm(20000, 2400), tau=0.02, alpha=0.05)
    assert strong.p_value < 0.05 and strong.ci_low > 0


def test_unestimable_variance_and_bad_counts():
    assert evidence(Arm(0, 0), Arm(10, 1), tau=0.02, alpha=0.05) is None
    assert evidence(Arm(100, 0), Arm(100, 0), tau=0.02, alpha=0.05) is None
    with pytest.raises(ValueError, match=r"conversions 11 must be within 0\.\.sessions"):
        Arm(10, 11)
    with pytest.raises(ValueError, match="tau must be > 0"):
        evidence(Arm(10, 1), Arm(10, 2), tau=0, alpha=0.05)


def test_continuous_monitoring_of_identical_arms_keeps_false_positives_under_alpha():
    """A/A, looked at 100 times each: the always-valid test may not cross 1/alpha more than alpha."""
    rng = np.random.default_rng(7)
    runs, looks, batch, p = 2000, 100, 200, 0.1
    conv_a = rng.binomial(batch, p, size=(runs, looks)).cumsum(axis=1)
    conv_b = rng.binomial(batch, p, size=(runs, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    var = binomial_variance(conv_a, n, conv_b, n)
    llr = log_likelihood_ratio(conv_b / n - conv_a / n, var, 0.02**2)
    false_rate = (llr >= math.log(1 / 0.05)).any(axis=1).mean()
    assert false_rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


SETTINGS = d.Settings(alpha=0.05, min_detectable_effect=0.02, min_sessions=100, min_duration_s=60, max_duration_s=600)


def test_promote_when_the_challenger_is_significantly_better():
    out = d.look(Arm(5000, 500), Arm(5000, 700), elapsed_s=120, settings=SETTINGS)
    assert out.outcome == d.PROMOTE and out.state.direction == 1 and out.state.p_value < 0.05
    figures = out.figures(Arm(5000, 500), Arm(5000, 700))
    assert figures["lift"] == pytest.approx(0.04) and figures["ci_low"] > 0


def test_rollback_when_significantly_worse_or_on_a_guardrail_alarm():
    worse = d.look(Arm(5000, 700), Arm(5000, 500), elapsed_s=120, settings=SETTINGS)
    assert worse.outcome == d.ROLLBACK and "worse" in worse.reason
    alarm = d.look(Arm(10, 1), Arm(10, 1), elapsed_s=1, settings=SETTINGS, challenger_alarms=["x-5xx-rate"])
    assert alarm.outcome == d.ROLLBACK and "x-5xx-rate" in alarm.reason and alarm.evidence is None


def test_significance_waits_for_the_minimum_duration_and_is_remembered():
    early = d.look(Arm(5000, 500), Arm(5000, 700), elapsed_s=10, settings=SETTINGS)
    assert early.outcome == d.CONTINUE and "minimum duration" in early.reason
    # later the point estimate drifted back, but the always-valid p-value is a running minimum
    later = d.look(Arm(9000, 900), Arm(9000, 940), elapsed_s=61, settings=SETTINGS, state=early.state)
    assert later.outcome == d.PROMOTE and later.state.looks == 2


def test_inconclusive_at_the_maximum_duration_and_waiting_for_sessions():
    flat = d.look(Arm(3000, 300), Arm(3000, 302), elapsed_s=600, settings=SETTINGS)
    assert flat.outcome == d.INCONCLUSIVE and "champion stays" in flat.reason
    few = d.look(Arm(50, 5), Arm(50, 40), elapsed_s=100, settings=SETTINGS)
    assert few.outcome == d.CONTINUE and few.state.looks == 0 and "100 sessions" in few.reason


def test_settings_are_validated_with_the_field_named():
    with pytest.raises(ValueError, match="alpha"):
        d.Settings(alpha=1.5)
    with pytest.raises(ValueError, match="durations"):
        d.Settings(min_duration_s=10, max_duration_s=5)
    assert d.State.from_dict({"looks": "3", "p_value": "0.2", "direction": "-1"}) == d.State(3, 0.2, -1)
