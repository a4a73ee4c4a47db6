"""What an A/B test does after a look: keep going, promote, roll back, or stop as inconclusive.

Order of precedence, checked at every look:
  1. a challenger guardrail alarm in ALARM rolls back at once (even before the minimum duration);
  2. the always-valid p-value (running minimum over looks with enough sessions per arm) at or below
     alpha decides, in the direction of the effect at the look that reached it - but only once the
     minimum duration has passed (weekly cycles; the p-value stays valid meanwhile);
  3. at the maximum duration the test stops as inconclusive: the champion stays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from include.abtest.msprt import Arm, Evidence, evidence

CONTINUE, PROMOTE, ROLLBACK, INCONCLUSIVE = "continue", "promote", "rollback", "inconclusive"


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.05
    min_detectable_effect: float = 0.02  # absolute difference of conversion rates: the mixture's tau
    min_sessions: int = 200  # per variant, before a look counts
    min_duration_s: float = 0.0
    max_duration_s: float = 14 * 86400.0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.min_detectable_effect < 1:
            raise ValueError(f"min_detectable_effect must be in (0, 1), got {self.min_detectable_effect}")
        if self.min_sessions < 1:
            raise ValueError(f"min_sessions must be >= 1, got {self.min_sessions}")
        if not 0 <= self.min_duration_s <= self.max_duration_s:
            raise ValueError(f"durations must satisfy 0 <= min ({self.min_duration_s}) <= max ({self.max_duration_s})")


@dataclass(frozen=True)
class State:
    """Carried from look to look (stored with the test record)."""

    looks: int = 0
    p_value: float = 1.0
    direction: int = 0  # sign of the effect at the look that set p_value

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> State:
        data = data or {}
        return cls(
            looks=int(data.get("looks", 0)),
            p_value=float(data.get("p_value", 1.0)),
            direction=int(data.get("direction", 0)),
        )


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
            "p_value": self.state.p_value,
            "alarms": list(self.alarms),
        }
        if self.evidence is not None:
            out.update(
                lift=self.evidence.theta_hat,
                ci_low=self.evidence.ci_low,
                ci_high=self.evidence.ci_high,
                likelihood_ratio=self.evidence.likelihood_ratio,
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
    alarms = sorted(challenger_alarms or [])
    current = None
    if min(champion.sessions, challenger.sessions) >= settings.min_sessions:
        current = evidence(champion, challenger, settings.min_detectable_effect, settings.alpha)
    if current is not None:
        state = replace(state, looks=state.looks + 1)
        if current.p_value < state.p_value:
            direction = (current.theta_hat > 0) - (current.theta_hat < 0)
            state = replace(state, p_value=current.p_value, direction=direction)

    if alarms:
        return Decision(ROLLBACK, f"guardrail alarm in ALARM: {', '.join(alarms)}", state, current, alarms)
    if state.p_value <= settings.alpha and state.direction != 0:
        if elapsed_s < settings.min_duration_s:
            reason = (
                f"significant (p={state.p_value:.4g}) but the minimum duration "
                f"({settings.min_duration_s:.0f}s) has not passed ({elapsed_s:.0f}s)"
            )
            return Decision(CONTINUE, reason, state, current)
        if state.direction > 0:
            return Decision(PROMOTE, f"challenger converts better (always-valid p={state.p_value:.4g})", state, current)
        return Decision(ROLLBACK, f"challenger converts worse (always-valid p={state.p_value:.4g})", state, current)
    if elapsed_s >= settings.max_duration_s:
        reason = f"no significant difference after {elapsed_s:.0f}s (p={state.p_value:.4g}): the champion stays"
        return Decision(INCONCLUSIVE, reason, state, current)
    if current is None:
        reason = f"waiting for {settings.min_sessions} sessions per variant"
    else:
        reason = f"not significant yet (p={state.p_value:.4g})"
    return Decision(CONTINUE, reason, state, current)
