"""Which alias a freshly trained or dropped version earns, and what SageMaker approval that means.

A trained challenger must beat the popularity baseline of its own window; the very first model
then becomes `champion`, a later one `challenger` only if it beats the champion by `min_improvement`
(relative) on the same month and customers. The model package mirrors the alias: the champion is
Approved, a challenger waits for the A/B test, anything else is Rejected.
(A hand-dropped version is always a challenger: include/training/drops.py.)
"""

from __future__ import annotations

CHAMPION, CHALLENGER = "champion", "challenger"
GATE_METRIC = "ndcg_at_10"
APPROVAL = {CHAMPION: "Approved", CHALLENGER: "PendingManualApproval"}


def registration_gate(
    scored: dict[str, dict[str, float]], has_champion: bool, min_improvement: float, metric: str = GATE_METRIC
) -> tuple[str, str | None]:
    """(reason, alias or None) from the challenger's, baseline's and champion's scores."""
    new, base = scored["challenger"][metric], scored["baseline"][metric]
    if new <= base:
        return f"{metric} {new:.4f} does not beat the popularity baseline {base:.4f}", None
    if not has_champion:
        return f"first model: {metric} {new:.4f} > baseline {base:.4f}", CHAMPION
    old = scored["champion"][metric]
    if new >= old * (1 + min_improvement):
        return (
            f"{metric} {new:.4f} >= champion {old:.4f} x (1 + {min_improvement}) and > baseline {base:.4f}",
            CHALLENGER,
        )
    return f"{metric} {new:.4f} < champion {old:.4f} x (1 + {min_improvement})", None


def approval_status(alias: str | None) -> str:
    return APPROVAL.get(alias or "", "Rejected")
