"""Whether a new Personalize solution version may replace the one the campaign serves.

Not worse is enough: the new version serves when its `metric` is at least the serving version's
within `tolerance` (relative). No campaign yet, or a campaign already on this version, deploys.
"""

from __future__ import annotations


def not_worse(
    new_version_arn: str,
    new_metrics: dict[str, float],
    serving_arn: str | None,
    serving_metrics: dict[str, float] | None,
    *,
    metric: str,
    tolerance: float,
) -> dict:
    """The decision: deploy (bool), reason, serving (ARN or None) and, when compared, serving_metric."""
    if serving_arn is None:
        return {"deploy": True, "reason": "no campaign yet: the first version serves", "serving": None}
    if serving_arn == new_version_arn:
        return {"deploy": True, "reason": "the campaign already serves this version", "serving": serving_arn}
    old = (serving_metrics or {}).get(metric)
    new = new_metrics.get(metric)
    if new is None:
        raise ValueError(f"the new version reports no {metric} (it has {sorted(new_metrics)})")
    if old is None or new >= old * (1 - tolerance):
        reason = f"{metric} {new:.4f} vs serving {old if old is None else round(old, 4)}: not worse"
        return {"deploy": True, "reason": reason, "serving": serving_arn, "serving_metric": old}
    reason = (
        f"{metric} {new:.4f} is below the serving version's {old:.4f} by more than {tolerance:.0%}: "
        f"the campaign keeps {serving_arn}"
    )
    return {"deploy": False, "reason": reason, "serving": serving_arn, "serving_metric": old}
