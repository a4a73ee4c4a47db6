"""Which month a run is about: the Param, else the triggering Asset event, else the month before."""

from __future__ import annotations

from types import SimpleNamespace

import pendulum

from mlops.months import month_end, months_back, resolve_month

ASSET = "processed"
RUN = SimpleNamespace(logical_date=pendulum.datetime(2011, 11, 15, 9, tz="UTC"), run_after=None)


def events(*months: str) -> dict:
    return {ASSET: [SimpleNamespace(extra={"month": m}) for m in months]}


def test_the_param_wins():
    assert resolve_month({"month": "2011-03"}, RUN, events("2011-09"), ASSET) == "2011-03"


def test_else_the_newest_triggering_event():
    assert resolve_month({"month": None}, RUN, events("2011-08", "2011-09"), ASSET) == "2011-09"


def test_else_the_month_before_the_logical_date_or_run_after():
    assert resolve_month({"month": ""}, RUN) == "2011-10"
    assert resolve_month({"month": None}, RUN, {ASSET: []}, ASSET) == "2011-10"
    manual = SimpleNamespace(logical_date=None, run_after=pendulum.datetime(2011, 1, 3, tz="UTC"))
    assert resolve_month({"month": None}, manual) == "2010-12"


def test_events_of_another_asset_do_not_count():
    assert resolve_month({"month": None}, RUN, {"other": events("2011-01")[ASSET]}, ASSET) == "2011-10"


def test_windows_and_month_ends():
    assert months_back("2011-02", 3) == ["2010-11", "2010-12", "2011-01"]
    assert months_back("2011-02", 2, inclusive=True) == ["2011-01", "2011-02"]
    assert month_end("2011-02") == "2011-02-28T23:59:59Z"
