"""The checks before a Personalize import, on a real month's CSV and on broken copies of it."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from devstack.datasets import month_file
from include.personalize.validation import InvalidInteractions, validate
from include.preprocessing import job as preprocessing


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("personalize-validation")
    fitted = preprocessing.fit_files([(str(month_file("2011-10")), "2011-10")], ["2011-10"])
    preprocessing.process_file(str(month_file("2011-10")), "2011-10", fitted, str(root), "2011-10")
    return pd.read_csv(root / "personalize_interactions.csv", dtype={"USER_ID": str, "ITEM_ID": str})


NOW = int(time.time())


def test_a_real_month_passes_with_its_figures(month):
    summary = validate(month, "2011-10", NOW)
    assert summary.interactions == len(month) > 40_000
    assert summary.users_with_two > 25 and summary.items > 1000


@pytest.mark.parametrize(
    ("breaking", "message"),
    [
        (lambda f: f.drop(columns="EVENT_TYPE"), "columns are"),
        (lambda f: f.assign(USER_ID=f.USER_ID.where(f.index != 5, "")), "USER_ID is empty on 1 row"),
        (lambda f: f.assign(TIMESTAMP=f.TIMESTAMP * 1000), "TIMESTAMP must be epoch seconds"),
        (lambda f: f.assign(TIMESTAMP=f.TIMESTAMP.where(f.index != 3, -1)), "row 4 has '-1'"),
        (lambda f: f.head(999), "999 interactions; Personalize needs at least 1000"),
        (lambda f: f.drop_duplicates("USER_ID").head(2000), "0 users with 2+ interactions"),
        (
            lambda f: f[f.ITEM_ID.isin(f.ITEM_ID.value_counts().index[:99])].reset_index(drop=True),
            "99 distinct items; Personalize needs at least 100",
        ),
    ],
)
def test_broken_interactions_are_refused_with_what_and_where(month, breaking, message):
    with pytest.raises(InvalidInteractions, match=message.replace("+", r"\+")):
        validate(breaking(month.copy()), "2011-10", NOW)
