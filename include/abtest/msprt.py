"""The mixture sequential probability ratio test (mSPRT) for two conversion rates.

Johari, Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
(Operations Research, 2022). The difference of conversion rates theta = p_B - p_A is estimated by
theta_hat with variance V = p_A(1-p_A)/n_A + p_B(1-p_B)/n_B (any traffic split). Against
H0: theta = 0, with a normal mixture N(0, tau^2) over the alternative, the likelihood ratio is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * theta_hat^2 / (2 V (V + tau^2)))

Lambda is (asymptotically) a martingale under H0, so by Ville's inequality P(sup Lambda >= 1/alpha)
<= alpha: the test may be looked at after every visitor and stopped at any time, which a
fixed-horizon z-test may not (peeking inflates its false-positive rate). The always-valid p-value
is the running minimum of 1/Lambda; inverting Lambda < 1/alpha gives a confidence sequence for theta.
tau is the effect the test is tuned to find soonest: the minimum detectable effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Arm:
    """Sessions that saw a variant's recommendations and how many of them converted."""

    sessions: int
    conversions: int

    def __post_init__(self) -> None:
        if self.sessions < 0 or not 0 <= self.conversions <= self.sessions:
            raise ValueError(f"conversions {self.conversions} must be within 0..sessions ({self.sessions})")

    @property
    def rate(self) -> float:
        return self.conversions / self.sessions if self.sessions else 0.0


@dataclass(frozen=True)
class Evidence:
    theta_hat: float  # challenger rate - champion rate
    variance: float
    likelihood_ratio: float
    p_value: float  # 1 / Lambda at this look (take the running minimum across looks)
    ci_low: float  # always-valid (1 - alpha) confidence sequence for theta
    ci_high: float


def log_likelihood_ratio(theta_hat, variance, tau2):
    """log Lambda, vectorised (numpy arrays or floats); variance must be > 0."""
    total = variance + tau2
    return 0.5 * np.log(variance / total) + tau2 * np.square(theta_hat) / (2.0 * variance * total)


def binomial_variance(conversions_a, sessions_a, conversions_b, sessions_b):
    """Plug-in variance of p_B - p_A, vectorised; zero when a rate is 0 or 1."""
    p_a = conversions_a / sessions_a
    p_b = conversions_b / sessions_b
    return p_a * (1 - p_a) / sessions_a + p_b * (1 - p_b) / sessions_b


def evidence(champion: Arm, challenger: Arm, tau: float, alpha: float) -> Evidence | None:
    """The test at one look; None while the variance is not estimable (an arm empty or all-equal)."""
    if tau <= 0 or not 0 < alpha < 1:
        raise ValueError(f"tau must be > 0 and alpha in (0, 1), got tau={tau}, alpha={alpha}")
    if champion.sessions == 0 or challenger.sessions == 0:
        return None
    variance = float(
        binomial_variance(champion.conversions, champion.sessions, challenger.conversions, challenger.sessions)
    )
    if variance <= 0:
        return None
    theta_hat = challenger.rate - champion.rate
    tau2 = tau * tau
    log_lr = float(log_likelihood_ratio(theta_hat, variance, tau2))
    total = variance + tau2
    # Lambda < 1/alpha  <=>  theta^2 < V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V))
    half_width = math.sqrt(variance * total / tau2 * (2 * math.log(1 / alpha) + math.log(total / variance)))
    return Evidence(
        theta_hat=theta_hat,
        variance=variance,
        likelihood_ratio=math.exp(min(log_lr, 700.0)),
        p_value=min(1.0, math.exp(-log_lr)),
        ci_low=theta_hat - half_width,
        ci_high=theta_hat + half_width,
    )
