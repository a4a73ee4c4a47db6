"""What an A/B test does after a look: keep going, promote, roll back, or stop as inconclusive.

Order of precedence, checked at every look:
  1. a challenger guardrail alarm that is in ALARM, or went to ALARM since the last look, rolls back
     at once (even before the minimum duration);
  2. a sample-ratio mismatch (the variants' impressions do not follow the configured split, at
     `srm_alpha`) stops the test as inconclusive: the conversion test's null rests on the split;
  3. the exact mixture test of `msprt` *at this look* (1/M_n <= alpha on the counts so far) decides,
     in the direction of the lift estimated *at this look* - only once the minimum duration has
     passed. Not the running minimum of the p-value: the minimum kept the direction of the early
     look that set it, so the first look after the minimum duration could act on a novelty effect
     that had faded or reversed. Deciding on M_n now is still valid (M_n <= sup M, and Ville's
     inequality bounds the sup), and an early effect that faded pulls M_n back below 1/alpha. The
     counts before the minimum duration stay in the evidence (restarting at it would throw away
     the sessions already paid for); they cannot outvote what happened since unless the effect
     over the whole test still points their way. The running minimum is kept for the record;
  4. at the maximum duration the test stops as inconclusive: the champion stays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from include.abtest.msprt import Arm, Evidence, evidence

CONTINUE, PROMOTE, ROLLBACK, INCONCLUSIVE = "continue", "promote", "rollback", "inconclusive"


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.05
    min_detectable_lift: float = 0.1  # relative (r_B / r_A - 1): the mixture prior's spread
    traffic_share: float = 0.1  # the challenger's weight: the null share of conversions
    min_sessions: int = 200  # per variant, before a look counts
    min_duration_s: float = 0.0
    max_duration_s: float = 14 * 86400.0
    srm_alpha: float = 0.001  # sample-ratio mismatch on impressions

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.min_detectable_lift <= 10:
            raise ValueError(f"min_detectable_lift must be in (0, 10], got {self.min_detectable_lift}")
        if not 0 < self.traffic_share < 1:
            raise ValueError(f"traffic_share must be in (0, 1), got {self.traffic_share}")
        if not 0 < self.srm_alpha < 1:
            raise ValueError(f"srm_alpha must be in (0, 1), got {self.srm_alpha}")
        if self.min_sessions < 1:
            raise ValueError(f"min_sessions must be >= 1, got {self.min_sessions}")
        if self.min_duration_s < 0 or self.max_duration_s <= 0:
            raise ValueError(f"durations must be positive: min {self.min_duration_s}s, max {self.max_duration_s}s")
        if self.min_duration_s > self.max_duration_s:
            raise ValueError(
                f"min_duration_s ({self.min_duration_s:.0f}) must not exceed max_duration_s ({self.max_duration_s:.0f})"
            )


@dataclass(frozen=True)
class State:
    """Carried from look to look (stored with the test record)."""

    looks: int = 0
    p_value: float = 1.0  # running minimum of 1/M_n: for the record, not for deciding

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> State:
        data = data or {}
        return cls(looks=int(data.get("looks", 0)), p_value=float(data.get("p_value", 1.0)))


@dataclass(frozen=True)
class Decision:
    outcome: str
    reason: str
    state: State
    evidence: Evidence | None = None
    alarms: list[str] = field(default_factory=list)

    def figures(self, champion: Arm, challenger: Arm) -> dict[str, Any]:
        """The numbers a reviewer needs, JSON-ready."""
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "reason": self.reason,
            "champion": {**asdict(champion), "rate": round(champion.rate, 6)},
            "challenger": {**asdict(challenger), "rate": round(challenger.rate, 6)},
            "looks": self.state.looks,
            "p_value": 1.0 if self.evidence is None else self.evidence.p_value,
            "p_value_min": self.state.p_value,
            "alarms": list(self.alarms),
        }
        if self.evidence is not None:
            out.update(
                lift=self.evidence.lift,
                rate_difference=self.evidence.theta_hat,
                ci_low=self.evidence.ci_low,
                ci_high=self.evidence.ci_high,
                likelihood_ratio=self.evidence.likelihood_ratio,
                srm_p_value=self.evidence.srm_p_value,
            )
        return out


def look(
    champion: Arm,
    challenger: Arm,
    elapsed_s: float,
    settings: Settings,
    state: State | None = None,
    challenger_alarms: list[str] | None = None,
) -> Decision:
    state = state or State()
    alarms = sorted(set(challenger_alarms or []))
    current = None
    if min(champion.sessions, challenger.sessions) >= settings.min_sessions:
        current = evidence(champion, challenger, settings.traffic_share, settings.min_detectable_lift, settings.alpha)
        state = replace(state, looks=state.looks + 1, p_value=min(state.p_value, current.p_value))

    if alarms:
        return Decision(ROLLBACK, f"guardrail alarm in ALARM: {', '.join(alarms)}", state, current, alarms)
    if current is not None and current.srm_p_value <= settings.srm_alpha:
        share = challenger.sessions / (champion.sessions + challenger.sessions)
        reason = (
            f"sample ratio mismatch: the challenger has {share:.2%} of impressions, not "
            f"{settings.traffic_share:.2%} (p={current.srm_p_value:.3g}); the test is void, the champion stays"
        )
        return Decision(INCONCLUSIVE, reason, state, current)
    if current is not None and current.p_value <= settings.alpha and current.direction != 0:
        if elapsed_s < settings.min_duration_s:
            reason = (
                f"significant now (p={current.p_value:.4g}) but the minimum duration "
                f"({settings.min_duration_s:.0f}s) has not passed ({elapsed_s:.0f}s)"
            )
            return Decision(CONTINUE, reason, state, current)
        figures = (
            f"lift {current.lift:+.2%}, always-valid CI [{current.ci_low:+.2%}, {current.ci_high:+.2%}], "
            f"p={current.p_value:.4g}"
        )
        if current.direction > 0:
            return Decision(PROMOTE, f"challenger converts better ({figures})", state, current)
        return Decision(ROLLBACK, f"challenger converts worse ({figures})", state, current)
    p_now = 1.0 if current is None else current.p_value
    if elapsed_s >= settings.max_duration_s:
        reason = f"no significant difference after {elapsed_s:.0f}s (p={p_now:.4g}): the champion stays"
        return Decision(INCONCLUSIVE, reason, state, current)
    if current is None:
        reason = f"waiting for {settings.min_sessions} sessions per variant"
    else:
        reason = f"not significant now (p={p_now:.4g})"
    return Decision(CONTINUE, reason, state, current)
