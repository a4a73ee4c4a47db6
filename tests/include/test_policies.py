"""The policy moved out of the task code, checked without AWS, MLflow or Airflow: the registration
gate, the rollout plan, Personalize's not-worse gate and plan rules, the preprocessing quality gate."""

from __future__ import annotations

import numpy as np
import pytest

from include.abtest import rollout
from include.personalize import gate as personalize_gate
from include.personalize import plan as personalize_plan
from include.preprocessing import quality
from include.training import gate


# --- registration gate ------------------------------------------------------------------------
def per_user(challenger, popularity=0.1, personal=0.2, champion=None, customers=400, noise=0.0, seed=1) -> dict:
    """Per-customer NDCG@10 lists with the given means (plus paired noise of the given size)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, customers)
    scores = {
        "challenger": challenger + shared + rng.normal(0, noise, customers),
        "popularity": np.full(customers, popularity),
        "personal_popularity": personal + shared,
    }
    if champion is not None:
        scores["champion"] = champion + shared + rng.normal(0, noise, customers)
    return {k: v.tolist() for k, v in scores.items()}


def test_a_model_that_does_not_beat_personal_popularity_is_no_candidate():
    result = gate.registration_gate(per_user(0.15, personal=0.2), has_champion=False, min_improvement=0.0)
    assert result.alias is None
    assert result.reason == "ndcg_at_10 0.1500 does not beat the personal popularity baseline 0.2000"
    result = gate.registration_gate(per_user(0.1, popularity=0.1, personal=0.05), False, 0.0)
    assert result.alias is None and "popularity baseline 0.1000" in result.reason


def test_the_first_model_above_both_baselines_is_champion():
    result = gate.registration_gate(per_user(0.3), has_champion=False, min_improvement=0.5)
    assert result.alias == "champion" and result.reason.startswith("first model: ndcg_at_10 0.3000 > popularity")
    assert result.means == {"challenger": 0.3, "popularity": 0.1, "personal_popularity": 0.2}


def test_a_later_model_needs_the_lower_bound_of_its_gain_above_the_minimum_improvement():
    clear = gate.registration_gate(per_user(0.33, champion=0.30, noise=0.05), True, 0.0)
    ci = clear.intervals["challenger_vs_champion"]
    assert ci.lower > 0 and ci.lower < ci.gain < ci.upper and ci.customers == 400
    assert clear.alias == "challenger" and "lower bound > 0.0" in clear.reason
    # the same mean gain, but too noisy to tell from chance on 40 customers: no challenger
    swings = np.tile([0.33, -0.27], 20)  # +10% on average, but half the customers lose a lot
    noisy_scores = {**per_user(0.33, champion=0.30, customers=40), "challenger": (0.30 + swings).tolist()}
    noisy = gate.registration_gate(noisy_scores, True, 0.0)
    assert noisy.intervals["challenger_vs_champion"].lower <= 0 < noisy.intervals["challenger_vs_champion"].gain
    assert noisy.alias is None and "lower bound <= 0.0" in noisy.reason
    # a clear 10% gain does not clear a 20% minimum improvement
    assert gate.registration_gate(per_user(0.33, champion=0.30, noise=0.05), True, 0.2).alias is None


def test_the_paired_bootstrap_is_reproducible_and_checks_its_input():
    a, b = np.linspace(0, 1, 50), np.linspace(0, 1, 50)[::-1] * 0.9
    assert gate.paired_bootstrap(a, b, seed=3) == gate.paired_bootstrap(a, b, seed=3)
    same = gate.paired_bootstrap(a, a)
    assert same.gain == same.lower == same.upper == 0.0
    with pytest.raises(ValueError, match="equally long"):
        gate.paired_bootstrap([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="personal_popularity"):
        gate.registration_gate({"challenger": [0.1], "popularity": [0.0]}, False, 0.0)


def test_package_approval_follows_the_alias():
    assert [gate.approval_status(a) for a in ("champion", "challenger", None)] == [
        "Approved",
        "PendingManualApproval",
        "Rejected",
    ]


def test_the_policy_and_the_dags_name_the_aliases_alike():
    from mlops import settings

    assert (gate.CHAMPION, gate.CHALLENGER) == (settings.CHAMPION, settings.CHALLENGER)
    assert (rollout.CHAMPION, rollout.CHALLENGER) == (settings.CHAMPION, settings.CHALLENGER)


def test_the_dag_offers_exactly_the_models_the_job_trains_and_defaults_to_the_repeat_ranker():
    from include.training import models
    from mlops import settings

    assert settings.TRAINING_MODELS == models.MODELS
    assert settings.DEFAULT_MODEL == models.DEFAULT_MODEL == "repeat"


# --- rollout plan -----------------------------------------------------------------------------
PARAMS = {"serving_image": "img", "instance_count": 1, "instance_type": "ml.m5.large", "traffic_share": 0.1}


def plan(candidate: dict, champion: dict | None) -> dict:
    return rollout.rollout_plan(
        model_name="rec",
        candidate=candidate,
        champion=champion,
        endpoint="ep",
        bucket="bkt",
        role_arn="role",
        params=PARAMS,
    )


def version(number: str, **tags: str) -> dict:
    return {"version": number, "tags": {"model_artifact": f"s3://train/{number}/model.tar.gz", **tags}}


def test_without_a_champion_the_candidate_is_deployed_alone():
    result = plan(version("1"), None)
    assert result["mode"] == "deploy" and result["test_id"] == "" and result["champion_version"] == "1"
    for step in ("deploy", "promote", "rollback"):
        assert result[f"{step}_config"] == "ep-rec-v1"
        assert [(v["VariantName"], v["ModelName"], v["InitialVariantWeight"]) for v in result[f"{step}_variants"]] == [
            ("champion", "ep-rec-v1", 1.0)
        ]
    (model,) = result["deploy_models"]
    assert model["model_data_url"] == "s3://bkt/models/rec/1/model.tar.gz" and model["role_arn"] == "role"


def test_the_champion_itself_is_a_deployment_not_a_test():
    assert plan(version("2"), version("2"))["mode"] == "deploy"


def test_a_challenger_is_tested_beside_the_champion_and_each_outcome_has_its_config():
    result = plan(version("3"), version("2", serving_artifact="s3://bkt/models/rec/_sha256/ab/model.tar.gz"))
    assert result["mode"] == "ab" and result["test_id"] == "rec-v2-vs-v3" and result["champion_version"] == "2"
    assert result["deploy_config"] == "ep-rec-v2-v3-10pct"
    assert [m["name"] for m in result["deploy_models"]] == ["ep-rec-v2", "ep-rec-v3"]
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in result["deploy_variants"]] == [
        ("champion", 0.9),
        ("challenger", 0.1),
    ]
    assert result["deploy_models"][0]["model_data_url"] == "s3://bkt/models/rec/_sha256/ab/model.tar.gz"  # a drop
    assert result["promote_config"] == "ep-rec-v3" and result["promote_models"][0]["version"] == "3"
    assert result["rollback_config"] == "ep-rec-v2" and result["rollback_models"][0]["version"] == "2"


def test_a_hand_drop_is_never_deployed_as_the_first_champion():
    with pytest.raises(ValueError, match="hand drop and no champion serves"):
        plan(version("1", source="hand-drop"), None)
    assert plan(version("3", source="hand-drop"), version("2"))["mode"] == "ab"


def test_sagemaker_names_carry_the_model_name_within_sagemakers_rules():
    import re

    valid = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    assert (
        rollout.resource_name("mlops-recommender-prod", "recommender", "v12")
        == "mlops-recommender-prod-recommender-v12"
    )
    long = rollout.resource_name("mlops-recommender-staging", "recommender-with-a-long-name-x", "v120", "v121", "50pct")
    assert len(long) == 63 and valid.match(long) and long.startswith("mlops-recommender-staging-recommender-with")
    other = rollout.resource_name(
        "mlops-recommender-staging", "recommender-with-a-long-name-y", "v120", "v121", "50pct"
    )
    assert other != long  # truncation keeps names apart (digest of the full name)
    odd = rollout.resource_name("ep", "rec_model.2", "v1")
    assert valid.match(odd) and odd.startswith("ep-rec-model-2-v1-")  # refused characters: replaced, digest added
    assert odd != rollout.resource_name("ep", "rec-model-2", "v1") == "ep-rec-model-2-v1"
    names = plan(version("3"), version("2"))
    assert all(valid.match(n) for n in (names["deploy_config"], *(m["name"] for m in names["deploy_models"])))


def test_every_model_runs_in_the_given_private_subnets():
    vpc = {"Subnets": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    result = rollout.rollout_plan(
        model_name="rec",
        candidate=version("3"),
        champion=version("2"),
        endpoint="ep",
        bucket="bkt",
        role_arn="role",
        params=PARAMS,
        vpc_config=vpc,
    )
    assert {m["name"]: m["vpc_config"] for m in result["deploy_models"]} == {"ep-rec-v2": vpc, "ep-rec-v3": vpc}
    assert result["rollback_models"][0]["vpc_config"] == vpc
    with pytest.raises(ValueError, match="vpc_config needs Subnets and SecurityGroupIds"):
        rollout.rollout_plan(
            model_name="rec",
            candidate=version("3"),
            champion=None,
            endpoint="ep",
            bucket="bkt",
            role_arn="role",
            params=PARAMS,
            vpc_config={"Subnets": [], "SecurityGroupIds": ["sg-1"]},
        )


def test_a_version_without_an_artifact_cannot_be_served():
    with pytest.raises(ValueError, match="no 'model_artifact' tag"):
        plan({"version": "4", "tags": {}}, None)


def test_outcomes_map_to_statuses_and_approvals():
    assert [rollout.final_status(o) for o in ("promote", "rollback", "inconclusive", "deploy")] == [
        "promoted",
        "rolled_back",
        "inconclusive",
        "deployed",
    ]
    assert [rollout.approval_of(o) for o in ("deploy", "promote", "rollback", "inconclusive")] == [
        "Approved",
        "Approved",
        "Rejected",
        None,
    ]
    settings = rollout.sequential_settings(
        {
            "alpha": 0.05,
            "min_detectable_lift": 0.1,
            "traffic_share": 0.1,
            "min_sessions": 200,
            "min_duration_hours": 1,
            "max_duration_hours": 2,
        }
    )
    assert settings == {
        "alpha": 0.05,
        "min_detectable_lift": 0.1,
        "traffic_share": 0.1,
        "min_sessions": 200,
        "min_duration_s": 3600.0,
        "max_duration_s": 7200.0,
    }


# --- Personalize ------------------------------------------------------------------------------
METRIC = "normalized_discounted_cumulative_gain_at_10"


def decide(new: float | None, old: float | None, tolerance: float = 0.0, serving: str | None = "arn:old") -> dict:
    return personalize_gate.not_worse(
        "arn:new",
        {} if new is None else {METRIC: new},
        serving,
        None if old is None else {METRIC: old},
        metric=METRIC,
        tolerance=tolerance,
    )


def test_personalize_first_version_and_same_version_deploy():
    assert decide(0.1, None, serving=None) == {
        "deploy": True,
        "reason": "no campaign yet: the first version serves",
        "serving": None,
    }
    same = personalize_gate.not_worse("arn:x", {}, "arn:x", None, metric=METRIC, tolerance=0)
    assert same["deploy"] and same["reason"] == "the campaign already serves this version"


def test_personalize_not_worse_within_tolerance_deploys_and_worse_is_kept_out():
    assert decide(0.30, 0.30)["deploy"]
    assert decide(0.29, 0.30, tolerance=0.05)["deploy"]
    worse = decide(0.20, 0.30, tolerance=0.05)
    assert not worse["deploy"] and worse["serving_metric"] == 0.30
    assert worse["reason"].endswith("by more than 5%: the campaign keeps arn:old")
    assert decide(0.2, None)["deploy"]  # the serving version reports no such metric


def test_personalize_new_version_without_the_gate_metric_is_an_error():
    with pytest.raises(ValueError, match="reports no"):
        decide(None, 0.3)


def test_update_mode_only_for_recipes_that_have_it():
    personalize_plan.check_training_mode("aws-user-personalization", "UPDATE")
    personalize_plan.check_training_mode("aws-similar-items", "FULL")
    with pytest.raises(ValueError, match="training_mode UPDATE is only possible with"):
        personalize_plan.check_training_mode("aws-similar-items", "UPDATE")


def test_personalize_names_are_stable_per_recipe_and_per_run():
    a = personalize_plan.resource_names("aws-user-personalization", "FULL", "2011-10", "manual__1")
    b = personalize_plan.resource_names("aws-user-personalization", "FULL", "2011-10", "manual__2")
    assert a["solution"] == a["campaign"] == "mlops-recommender-dev-user-personalization"
    prod = personalize_plan.resource_names("aws-user-personalization", "FULL", "2011-10", "manual__1", "p-rec-prod")
    assert all(prod[k].startswith("p-rec-prod-") for k in ("schema", "solution", "import_job", "campaign"))
    assert a["recipe_arn"] == "arn:aws:personalize:::recipe/aws-user-personalization"
    assert a["version_name"].startswith("2011-10-full-") and a["version_name"] != b["version_name"]
    assert a == personalize_plan.resource_names("aws-user-personalization", "FULL", "2011-10", "manual__1")


# --- preprocessing quality --------------------------------------------------------------------
REPORT = {
    "rows_in": 10_000,
    "rows_out": 8_000,
    "rows_quarantined": 2_000,
    "quarantine_share": 0.2,
    "quarantined_by_reason": {"cancellation": 1_950, "wrong_field_count": 30, "invalid_number": 20},
    "users": 100,
    "items": 50,
}
THRESHOLDS = {"max_quarantine_share": 0.35, "max_malformed_share": 0.01, "min_rows_out": 1000}


def test_a_normal_month_passes_the_quality_gate():
    assert quality.problems(REPORT, **THRESHOLDS) == []
    assert quality.summary("2011-10", REPORT).startswith("2011-10: 10,000 rows in, 8,000 out, 2,000 quarantined")


def test_each_broken_threshold_is_named_with_its_figure():
    found = quality.problems(REPORT, max_quarantine_share=0.1, max_malformed_share=0.004, min_rows_out=9_000)
    assert found[0].startswith("quarantined share 0.200 > 0.1 (")
    assert found[1] == "malformed share 0.0050 > 0.004"  # wrong field counts and bad numbers only
    assert found[2] == "8000 clean rows < 9000"


def test_variant_autoscaling_is_planned_from_the_params_and_validated():
    params = {"instance_count": 1, "max_instance_count": 4, "invocations_per_instance": 100}
    assert rollout.autoscaling_settings(params) == {
        "min_capacity": 1,
        "max_capacity": 4,
        "target_invocations": 100.0,
        "scale_out_cooldown_s": 60,
        "scale_in_cooldown_s": 300,
    }
    with pytest.raises(ValueError, match=r"max_instance_count \(1\) must not be below instance_count \(2\)"):
        rollout.autoscaling_settings({**params, "instance_count": 2, "max_instance_count": 1})
    with pytest.raises(ValueError, match="invocations_per_instance"):
        rollout.autoscaling_settings({**params, "invocations_per_instance": 0})
