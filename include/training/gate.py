"""Which alias a freshly trained or dropped version earns, and what SageMaker approval that means.

The gate compares models on the same month and the same customers, from each customer's NDCG@10
(`per_user[name]`, aligned lists). A trained model must beat both baselines of its own window on
the mean: global popularity and personal popularity (each customer's own most-bought items) - a
model that loses to "buy it again" is no candidate. The very first model then becomes `champion`;
a later one becomes `challenger` only if the lower bound of the paired bootstrap confidence interval
(resampling customers) of its relative NDCG@10 gain over the champion clears `min_improvement`:
noise between two similar models is not an improvement. The model package mirrors the alias: the
champion is Approved, a challenger waits for the A/B test, anything else is Rejected.
(A hand-dropped version is always a challenger: include/training/drops.py.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

CHAMPION, CHALLENGER = "champion", "challenger"
GATE_METRIC = "ndcg_at_10"
BASELINES = ("popularity", "personal_popularity")
APPROVAL = {CHAMPION: "Approved", CHALLENGER: "PendingManualApproval"}


@dataclass
class Interval:
    """The relative gain mean(new) / mean(old) - 1 with its percentile bootstrap interval."""

    gain: float
    lower: float
    upper: float
    confidence: float
    resamples: int
    customers: int


@dataclass
class GateResult:
    reason: str
    alias: str | None
    means: dict[str, float]
    intervals: dict[str, Interval] = field(default_factory=dict)  # "challenger_vs_<model>"

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(
    new, old, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0, block: int = 200
) -> Interval:
    """Relative gain of `new` over `old` (per-customer values, same order), customers resampled in pairs."""
    new, old = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
    if new.shape != old.shape or new.ndim != 1 or not len(new):
        raise ValueError(f"paired scores must be two equally long non-empty lists, got {new.shape} and {old.shape}")
    if not 0 < confidence < 1 or resamples < 1:
        raise ValueError(f"confidence must be in (0, 1) and resamples >= 1, got {confidence} and {resamples}")
    rng = np.random.default_rng(seed)
    gains = []
    for start in range(0, resamples, block):
        picks = rng.integers(0, len(new), size=(min(block, resamples - start), len(new)))
        gains.append(new[picks].mean(axis=1) / np.maximum(old[picks].mean(axis=1), 1e-12) - 1)
    gains = np.concatenate(gains)
    tail = (1 - confidence) / 2
    return Interval(
        gain=round(float(new.mean() / max(old.mean(), 1e-12) - 1), 6),
        lower=round(float(np.quantile(gains, tail)), 6),
        upper=round(float(np.quantile(gains, 1 - tail)), 6),
        confidence=confidence,
        resamples=resamples,
        customers=len(new),
    )


def registration_gate(
    per_user: dict[str, list[float]],
    has_champion: bool,
    min_improvement: float,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> GateResult:
    """The alias (or None) and why, from each model's per-customer NDCG@10 on the same customers."""
    missing = [
        name for name in ("challenger", *BASELINES, *((CHAMPION,) if has_champion else ())) if name not in per_user
    ]
    if missing:
        raise ValueError(f"the gate needs per-customer {GATE_METRIC} of {', '.join(missing)}")
    means = {name: round(float(np.mean(values)), 6) for name, values in per_user.items()}
    intervals = {
        f"challenger_vs_{name}": paired_bootstrap(
            per_user["challenger"], per_user[name], resamples=resamples, confidence=confidence, seed=seed
        )
        for name in (*BASELINES, *((CHAMPION,) if has_champion else ()))
    }
    new = means["challenger"]
    for name in BASELINES:
        if new <= means[name]:
            reason = f"{GATE_METRIC} {new:.4f} does not beat the {name.replace('_', ' ')} baseline {means[name]:.4f}"
            return GateResult(reason, None, means, intervals)
    beats = f"> popularity {means['popularity']:.4f} and personal popularity {means['personal_popularity']:.4f}"
    if not has_champion:
        return GateResult(f"first model: {GATE_METRIC} {new:.4f} {beats}", CHAMPION, means, intervals)
    ci = intervals["challenger_vs_champion"]
    interval = (
        f"gain over champion {means[CHAMPION]:.4f}: {ci.gain:+.1%}, "
        f"{ci.confidence:.0%} CI [{ci.lower:+.1%}, {ci.upper:+.1%}]"
    )
    if ci.lower > min_improvement:
        return GateResult(
            f"{GATE_METRIC} {new:.4f}; {interval}, lower bound > {min_improvement}; {beats}",
            CHALLENGER,
            means,
            intervals,
        )
    return GateResult(f"{GATE_METRIC} {new:.4f}; {interval}, lower bound <= {min_improvement}", None, means, intervals)


def approval_status(alias: str | None) -> str:
    return APPROVAL.get(alias or "", "Rejected")
