"""Whether to retrain, and why: the rule the model_training DAG records with every run.

Retrain when there is no champion; when the new month drifted from the champion's training data;
when the champion's ranking quality on the new month fell more than `max_decay` (relative) below
what it scored when it was trained; or when the champion is older than `max_age_days`. Several
reasons can hold at once; all are recorded. `force` (a manual run) retrains regardless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Decision:
    retrain: bool
    reasons: list[str]
    figures: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def explain(self) -> str:
        if self.retrain:
            return "retrain: " + "; ".join(self.reasons)
        return "no retraining: " + "; ".join(self.reasons)


def decide(
    *,
    has_champion: bool,
    drift: dict | None = None,
    champion_metric_at_training: float | None = None,
    champion_metric_now: float | None = None,
    metric: str = "ndcg_at_10",
    max_decay: float = 0.2,
    age_days: float | None = None,
    max_age_days: float = 90,
    force: bool = False,
) -> Decision:
    if not has_champion:
        return Decision(True, ["no champion model yet"], {})
    reasons, quiet = [], []
    figures: dict = {"metric": metric, "max_decay": max_decay, "max_age_days": max_age_days}
    if drift is not None:
        drifted = [f["feature"] for f in drift["features"] if f["drifted"]]
        figures["drifted_share"] = drift["drifted_share"]
        figures["drifted_features"] = drifted
        if drift["dataset_drift"]:
            reasons.append(
                f"data drift: {len(drifted)}/{len(drift['features'])} features drifted ({', '.join(drifted)}), "
                f"share {drift['drifted_share']:.2f} >= {drift['drift_share']:.2f}"
            )
        else:
            quiet.append(f"drift share {drift['drifted_share']:.2f} < {drift['drift_share']:.2f}")
    if champion_metric_at_training and champion_metric_now is not None:
        decay = 1 - champion_metric_now / champion_metric_at_training
        figures.update(
            champion_metric_at_training=champion_metric_at_training,
            champion_metric_now=champion_metric_now,
            decay=round(decay, 4),
        )
        if decay > max_decay:
            reasons.append(
                f"performance decay: champion {metric} {champion_metric_now:.4f} on the new month vs "
                f"{champion_metric_at_training:.4f} at training ({decay:.0%} > {max_decay:.0%})"
            )
        else:
            quiet.append(f"champion {metric} decay {decay:.0%} <= {max_decay:.0%}")
    if age_days is not None:
        figures["age_days"] = round(age_days, 1)
        if age_days > max_age_days:
            reasons.append(f"model age: champion is {age_days:.0f} days old (> {max_age_days:.0f})")
        else:
            quiet.append(f"champion age {age_days:.0f} d <= {max_age_days:.0f} d")
    if force and not reasons:
        reasons.append("forced by the run's parameters")
    return Decision(bool(reasons), reasons or quiet, figures)
