"""The preprocessing job's row rules, features and model on real purchase lines, without AWS."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from devstack.datasets import month_file
from include.preprocessing import job, model, reader, schema

HEADER = ",".join(schema.RAW_COLUMNS)


def real_lines(month: str) -> list[str]:
    with gzip.open(month_file(month), "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def first(lines: list[str], predicate) -> str:
    return next(line for line in lines[1:] if predicate(line.split(",")))


@pytest.fixture(scope="module")
def fitted() -> model.PreprocessingModel:
    files = [(str(month_file(m)), m) for m in ("2011-07", "2011-08", "2011-09")]
    return job.fit_files(files, ["2011-07", "2011-08", "2011-09"])


def process(tmp_path: Path, text: str, fitted, month: str | None = "2011-10", **kwargs):
    source = tmp_path / "input.csv"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    names, report = job.process_file(str(source), "input.csv", fitted, str(out), month, **kwargs)
    return out, names, report


def test_each_rule_quarantines_real_rows_with_their_reason_and_line(tmp_path, fitted):
    lines = real_lines("2011-10")
    good = lines[1]  # 569203 ... 16353
    cancellation = first(lines, lambda f: f[0].startswith("C"))
    no_customer = first(lines, lambda f: f[6] == "" and not f[0].startswith("C"))
    postage = first(lines, lambda f: f[1] == "POST" and f[6] != "")
    fields = good.split(",")
    zero_price = ",".join([*fields[:5], "0.0", *fields[6:]])
    bad_quantity = ",".join([*fields[:3], "six", *fields[4:]])
    huge_quantity = ",".join([*fields[:3], str(int(fitted.quantity_cap) + 1), *fields[4:]])
    september = ",".join([*fields[:4], "2011-09-30 23:59:59", *fields[5:]])
    short = ",".join(fields[:5])
    body = [
        good,
        cancellation,
        no_customer,
        postage,
        zero_price,
        bad_quantity,
        huge_quantity,
        september,
        short,
    ]
    out, _, report = process(tmp_path, "\n".join([HEADER, *body]) + "\n", fitted)

    assert report["rows_in"] == 9 and report["rows_out"] == 1
    assert report["quarantined_by_reason"] == {
        "cancellation": 1,
        "missing_customer": 1,
        "non_product_code": 1,
        "non_positive_price": 1,
        "invalid_number": 1,
        "quantity_outlier": 1,
        "outside_month": 1,
        "wrong_field_count": 1,
    }
    quarantine = pq.read_table(out / "quarantine.parquet").to_pandas().set_index("line")
    assert quarantine.loc[3, "reason"] == "cancellation" and quarantine.loc[3, "InvoiceNo"].startswith("C")
    assert quarantine.loc[7, "reason"] == "invalid_number" and quarantine.loc[7, "Quantity"] == "six"
    assert quarantine.loc[10, "reason"] == "wrong_field_count" and quarantine.loc[10, "raw_line"] == short
    assert set(quarantine.index) == set(range(3, 11))

    clean = pq.read_table(out / "interactions.parquet").to_pylist()
    assert clean == [
        {
            "user_id": "16353",  # written as 16353.0 in the file
            "item_id": fields[1],
            "timestamp": int(pd.Timestamp(fields[4], tz="UTC").timestamp()),
            "event_type": "purchase",
            "event_value": round(int(fields[3]) * float(fields[5]), 2),
            "quantity": int(fields[3]),
            "unit_price": float(fields[5]),
            "invoice_no": fields[0],
            "country": fields[7],
        }
    ]
    personalize = (out / "personalize_interactions.csv").read_text().splitlines()
    assert personalize[0] == "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
    assert personalize[1].split(",")[:4] == ["16353", fields[1], str(clean[0]["timestamp"]), "purchase"]


def test_a_real_month_accounts_for_every_row_and_features_match_an_independent_computation(tmp_path, fitted):
    out = tmp_path / "out"
    _, report = job.process_file(str(month_file("2011-10")), "2011-10", fitted, str(out), "2011-10")
    assert report["rows_in"] == 60_742  # the data set's README
    assert report["quarantined_by_reason"]["cancellation"] == 1_200
    assert report["rows_in"] == report["rows_out"] + report["rows_quarantined"]
    assert 0.15 < report["quarantine_share"] < 0.25

    raw = pd.read_csv(month_file("2011-10"), dtype=str, keep_default_na=False)
    kept = raw[
        ~raw.InvoiceNo.str.startswith("C")
        & (raw.CustomerID != "")
        & raw.StockCode.str.upper().str.match(fitted.product_code_pattern)
        & (pd.to_numeric(raw.Quantity) > 0)
        & (pd.to_numeric(raw.Quantity) <= fitted.quantity_cap)
        & (pd.to_numeric(raw.UnitPrice) > 0)
        & (pd.to_numeric(raw.UnitPrice) <= fitted.price_cap)
    ]
    assert report["rows_out"] == len(kept)

    users = pq.read_table(out / "user_features.parquet").to_pandas().set_index("user_id")
    kept = kept.assign(
        user=kept.CustomerID.str[:-2],
        value=(pd.to_numeric(kept.Quantity) * pd.to_numeric(kept.UnitPrice)).round(2),
    )
    expected = kept.groupby("user").agg(frequency=("InvoiceNo", "nunique"), monetary=("value", "sum"))
    assert len(users) == len(expected) == report["users"]
    assert (users.frequency == expected.frequency.reindex(users.index)).all()
    assert (users.monetary - expected.monetary.reindex(users.index)).abs().max() < 0.01
    end_of_october = pd.Timestamp("2011-11-01", tz="UTC").timestamp()
    assert users.recency_days.between(0, 31).all() and users.last_purchase.max() < end_of_october
    assert {"country_code", "recency_days_z", "frequency_z", "monetary_z"} <= set(users.columns)

    items = pq.read_table(out / "item_features.parquet").to_pandas().set_index("item_id")
    buyers = kept.assign(item=kept.StockCode.str.upper()).groupby("item").user.nunique()
    assert (items.buyers == buyers.reindex(items.index)).all()
    assert items.loc["85099B", "description"] == "JUMBO BAG RED RETROSPOT"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("InvoiceNo,StockCode,Quantity\n1,2,3\n", r"line 1: header .* \(missing \['Description'"),
        (
            HEADER + "\n536365,85123A,WHITE,6,01/12/2010 08:26,2.55,17850.0,United Kingdom\n",
            r"column InvoiceDate, line 2",
        ),
        ("", r"empty"),
    ],
    ids=["wrong-header", "unparsable-date", "empty"],
)
def test_a_malformed_file_fails_naming_column_and_line(tmp_path, fitted, body, message):
    with pytest.raises(schema.MalformedInput, match=message):
        process(tmp_path, body, fitted)


def test_text_that_is_not_utf8_is_located(tmp_path, fitted):
    lines = real_lines("2011-10")[:4]
    data = ("\n".join(lines) + "\n").encode() + "536999,22086,CAFÉ,1,2011-10-03 10:00:00,2.5,17850.0,UK\n".encode(
        "latin-1"
    )
    source = tmp_path / "latin1.csv"
    source.write_bytes(data)
    with pytest.raises(schema.MalformedInput, match=r"column Description, line 5: text is not UTF-8"):
        job.process_file(str(source), "latin1.csv", fitted, str(tmp_path / "out"), "2011-10")


def test_line_numbers_stay_exact_across_blocks(tmp_path, fitted):
    """Small blocks force many batches; the quarantine's line numbers must still point at the file."""
    out = tmp_path / "out"
    job.process_file(str(month_file("2011-10")), "m", fitted, str(out), "2011-10", block_size=64 << 10)
    quarantine = pq.read_table(out / "quarantine.parquet").to_pandas()
    lines = real_lines("2011-10")
    for row in quarantine.sample(50, random_state=1).itertuples():
        assert lines[row.line - 1].split(",")[0] == row.InvoiceNo


def test_the_model_is_json_with_a_content_id_and_refuses_other_content(fitted):
    text = fitted.to_json()
    again = model.PreprocessingModel.from_json(text)
    assert again == fitted and again.model_id == fitted.model_id
    assert json.loads(text)["window"] == ["2011-07", "2011-08", "2011-09"]
    assert 100 < fitted.quantity_cap < 10_000 and 10 < fitted.price_cap < 5_000
    assert fitted.countries["Other"] == 0 and "United Kingdom" in fitted.countries
    with pytest.raises(model.ModelError, match="not a preprocessing model"):
        model.PreprocessingModel.from_json(b"\x80\x04\x95 pickle bytes", "s3://x/model")
    with pytest.raises(model.ModelError, match="format_version"):
        model.PreprocessingModel.from_json(json.dumps({"format_version": 99}), "s3://x/model")


def test_gzipped_input_reads_the_same_as_plain(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_bytes(gzip.decompress(month_file("2011-10").read_bytes()))
    rows = lambda path: sum(b.rows.num_rows for b in reader.blocks(str(path), "x"))  # noqa: E731
    assert rows(plain) == rows(month_file("2011-10")) == 60_742
