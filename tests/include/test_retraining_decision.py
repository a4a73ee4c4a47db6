"""Drift on real and constructed month pairs, and the retraining decision's rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from devstack.datasets import month_file
from include.preprocessing import job as preprocessing
from include.training import drift
from include.training.decision import decide


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    root = tmp_path_factory.mktemp("months")
    model = preprocessing.fit_files([(str(month_file("2011-06")), "2011-06")], ["2011-06"])

    def load(month: str) -> pd.DataFrame:
        preprocessing.process_file(str(month_file(month)), month, model, str(root / month), month)
        return pq.read_table(root / month / "interactions.parquet").to_pandas()

    return {m: load(m) for m in ("2010-12", "2011-06", "2011-07", "2011-08")}


def test_december_drifts_from_a_summer_month(months):
    report = drift.compare(months["2011-07"], months["2010-12"])
    assert report.dataset_drift
    drifted = {f.feature for f in report.features if f.drifted}
    assert "item" in drifted  # the Christmas item mix
    assert "drifted" in report.summary() and "item (jensenshannon" in report.summary()


def test_consecutive_summer_months_do_not_drift(months):
    report = drift.compare(months["2011-07"], months["2011-08"])
    assert not report.dataset_drift
    assert report.drifted_share < 0.5


def test_a_month_does_not_drift_from_itself_and_a_constructed_shift_does(months):
    july = months["2011-07"]
    assert drift.compare(july, july).drifted_share == 0
    shifted = july.assign(unit_price=july.unit_price * 3, quantity=july.quantity * 4, event_value=july.event_value * 12)
    report = drift.compare(july, shifted)
    assert {"unit_price", "quantity", "event_value"} <= {f.feature for f in report.features if f.drifted}
    psi = drift.compare(july, shifted, numeric_method="psi")
    assert {f.method for f in psi.features} == {"psi", "jensenshannon"}
    with pytest.raises(ValueError, match="numeric_method"):
        drift.compare(july, shifted, numeric_method="ks")


def test_psi_and_wasserstein_on_known_distributions():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 20_000)
    assert drift.wasserstein_normed(a, a + 0.5) == pytest.approx(0.5, abs=0.02)
    assert drift.psi(a, rng.normal(0, 1, 20_000)) < 0.01 < 0.1 < drift.psi(a, a + 1)


@pytest.mark.parametrize(
    ("kwargs", "retrain", "reason"),
    [
        ({"has_champion": False}, True, "no champion model yet"),
        ({"has_champion": True, "age_days": 120, "max_age_days": 90}, True, "model age: champion is 120 days old"),
        (
            {"has_champion": True, "champion_metric_at_training": 0.20, "champion_metric_now": 0.12},
            True,
            "performance decay: champion ndcg_at_10 0.1200 on the new month vs 0.2000 at training (40% > 20%)",
        ),
        (
            {"has_champion": True, "champion_metric_at_training": 0.20, "champion_metric_now": 0.19, "age_days": 10},
            False,
            "champion ndcg_at_10 decay 5% <= 20%",
        ),
        ({"has_champion": True, "age_days": 10, "force": True}, True, "forced by the run's parameters"),
    ],
    ids=["first-model", "age", "decay", "nothing", "forced"],
)
def test_the_decision_rules(kwargs, retrain, reason):
    decision = decide(**kwargs)
    assert decision.retrain is retrain
    assert any(r.startswith(reason) for r in decision.reasons), decision.reasons


def test_the_decision_on_real_drift(months):
    report = drift.compare(months["2011-07"], months["2010-12"]).as_dict()
    decision = decide(has_champion=True, drift=report, age_days=5)
    assert decision.retrain and decision.reasons[0].startswith("data drift:")
    assert "item" in decision.figures["drifted_features"]
    calm = decide(has_champion=True, drift=drift.compare(months["2011-07"], months["2011-08"]).as_dict(), age_days=5)
    assert not calm.retrain and calm.explain().startswith("no retraining: drift share")
