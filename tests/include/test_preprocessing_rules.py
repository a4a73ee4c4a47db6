"""The preprocessing job's row rules, features and model on real purchase lines, without AWS."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
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
    assert report["duplicate_lines"] == raw.duplicated().sum() == 773  # counted, and kept
    assert report["bad_values"] == {}
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
            HEADER + "\n" + "536365,85123A,WHITE,6,01/12/2010 08:26,2.55,17850.0,United Kingdom\n" * 30,
            r"column InvoiceDate: values that are not dates .*: 30 of 30 lines .* first at line 2 '01/12/2010 08:26'",
        ),
        (
            HEADER + "\n" + "536365,85123A\n" * 30,
            r"lines without the header's 8 fields: 30 of 30 lines \(100.0%\).* first at line 2, line 3",
        ),
        ("", r"empty"),
    ],
    ids=["wrong-header", "another-date-format", "wrong-field-counts", "empty"],
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
    _, report = job.process_file(str(month_file("2011-10")), "m", fitted, str(out), "2011-10", block_size=64 << 10)
    assert report["duplicate_lines"] == 773  # the same count across 90-odd blocks
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


def with_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    return ",".join([*fields[:index], value, *fields[index + 1 :]])


def test_five_unparsable_dates_in_a_real_month_are_quarantined_not_the_month(tmp_path, fitted):
    lines = real_lines("2011-10")
    odd = [1000, 20_000, 30_000, 40_000, 60_000]
    for number in odd:
        lines[number] = with_field(lines[number], 4, "2011-10-32 10:00:00" if number % 2 else "10/03/2011 10:00")
    _, _, report = process(tmp_path, "\n".join(lines) + "\n", fitted)
    assert report["rows_in"] == 60_742 == report["rows_out"] + report["rows_quarantined"]
    assert report["quarantined_by_reason"]["invalid_date"] == 5
    assert report["bad_values"] == {"InvoiceDate": 5}
    quarantine = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pandas()
    assert set(quarantine.loc[quarantine.reason == "invalid_date", "line"]) == {n + 1 for n in odd}


ODD_VALUES = [
    # (column index, value): each makes its row `invalid_number`, never a traceback or a clean row
    (3, "99999999999999999999"),  # Quantity overflowing int64
    (3, "+5"),
    (3, "1e3"),
    (5, "nan"),  # UnitPrice
    (5, "inf"),
    (5, "1e3"),
    (5, "+5"),
    (5, "9" * 400),  # parses to inf
    (6, "12345.5"),  # CustomerID: fractional, non-finite, overflowing, exponent
    (6, "nan"),
    (6, "1e30"),
    (6, "+5"),
    (6, "9" * 19),
]


@pytest.mark.parametrize("block_size", [8 << 20, 600], ids=["one-block", "blocks-of-a-few-lines"])
def test_odd_numbers_are_quarantined_the_same_whatever_the_block(tmp_path, fitted, block_size):
    """Blocks of 600 bytes hold a few lines each, where Arrow's cast alone would
    have accepted `1e3`, `nan`, `inf` or `+5`: one rule for every block."""
    good = real_lines("2011-10")[1]
    body = [good] + [with_field(good, index, value) for index, value in ODD_VALUES] + [good]
    out, _, report = process(tmp_path, "\n".join([HEADER, *body]) + "\n", fitted, block_size=block_size)
    assert report["rows_in"] == len(body) and report["rows_out"] == 2
    assert report["quarantined_by_reason"] == {"invalid_number": len(ODD_VALUES)}
    assert report["bad_values"] == {"Quantity": 3, "UnitPrice": 5, "CustomerID": 5}
    assert report["duplicate_lines"] == 1  # the good line twice: counted, and kept
    personalize = (out / "personalize_interactions.csv").read_text().splitlines()
    assert len(personalize) == 3 and not any("nan" in line or "inf" in line for line in personalize)


def test_a_share_of_bad_values_over_the_limit_refuses_the_file_naming_column_and_lines(tmp_path, fitted):
    lines = real_lines("2011-10")[:1001]
    for number in range(1, 1001, 10):  # 100 of 1000 prices (10%) are text
        lines[number] = with_field(lines[number], 5, "n/a")
    text = "\n".join(lines) + "\n"
    with pytest.raises(schema.MalformedInput, match=r"column UnitPrice: .*100 of 1,000 lines \(10.0%\).*line 2 'n/a'"):
        process(tmp_path, text, fitted)
    _, _, report = process(tmp_path, text, fitted, max_bad_share=0.2)  # the SSM parameter, raised
    assert report["quarantined_by_reason"]["invalid_number"] == 100


def test_a_file_of_malformed_rows_fails_fast(tmp_path, fitted):
    """200,000 lines with a wrong field count: read at parse speed, then refused by their share."""
    import time

    started = time.monotonic()
    with pytest.raises(schema.MalformedInput, match=r"200,000 of 200,000 lines .* first at line 2,"):
        process(tmp_path, HEADER + "\n" + "1,2,3\n" * 200_000, fitted)
    assert time.monotonic() - started < 20


def test_a_line_longer_than_a_block_is_refused_with_its_place(tmp_path, fitted):
    good = real_lines("2011-10")[1]
    text = "\n".join([HEADER, good, with_field(good, 2, "X" * 20_000), good]) + "\n"
    with pytest.raises(schema.MalformedInput, match=r"a line after line \d+ is longer than 4,096 bytes"):
        process(tmp_path, text, fitted, block_size=4096)


@pytest.mark.parametrize(
    ("column", "odd"),
    [
        ("UnitPrice", ["1e3", "nan", "inf", "+5", "-inf", "2.55"]),
        ("CustomerID", ["1e3", "nan", "inf", "+5", "17850.0"]),
    ],
)
def test_a_rows_fate_is_the_same_in_a_block_arrow_casts_whole_and_in_a_mixed_one(fitted, column, odd):
    """Arrow's cast takes every value of `odd` (the block-wide fast path a per-block cast would use);
    one unparsable value in the block made such a cast fail. Either way each row gets the same fate."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from include.preprocessing import transform

    pc.cast(pa.array(odd), pa.float64())  # the whole "clean" block casts: nothing here refuses these values
    good = real_lines("2011-10")[1].split(",")
    index = schema.RAW_COLUMNS.index(column)

    def block(values):
        rows = [[*good[:index], value, *good[index + 1 :]] for value in values]
        return pa.table({name: [row[i] for row in rows] for i, name in enumerate(schema.RAW_COLUMNS)})

    rules = transform.Rules(fitted.product_code_pattern, fitted.quantity_cap, fitted.price_cap)

    def fates(values):
        result = transform.apply(block(values), np.arange(2, len(values) + 2), rules)
        quarantined = dict(
            zip(
                result.quarantine.column("line").to_pylist(),
                result.quarantine.column("reason").to_pylist(),
                strict=True,
            )
        )
        return [quarantined.get(line, "clean") for line in range(2, len(values) + 2)]

    clean_block = fates(odd)
    mixed_block = fates([*odd, "not a number"])
    assert clean_block == mixed_block[:-1]
    assert mixed_block[-1] == schema.INVALID_NUMBER
    accepted = {"UnitPrice": "2.55", "CustomerID": "17850.0"}[column]
    assert [v for v, fate in zip(odd, clean_block, strict=True) if fate == "clean"] == [accepted]
