"""The preprocessing job's rules and outputs written for DuckDB: a rival measured in the same run.

Same patterns (imported from the job), same first-reason order, same files: interactions and
quarantine as Parquet, the Personalize CSV, user and item features encoded with the fitted model.
One SQL statement classifies every row into a table (insertion order kept, so `rowid` gives the
line); the outputs are copied from it. DuckDB gets the task's cores and a memory limit under the
task's, with a spill directory, as one would configure it on Fargate.
"""

from __future__ import annotations

import os

import duckdb
import pyarrow.parquet as pq

from benchmarks import rival_common as common
from include.preprocessing import schema, transform
from include.preprocessing.model import PreprocessingModel

# Arrow's utf8_trim_whitespace: DuckDB's trim() alone removes spaces only
_WS = "' \t\n\r\x0b\x0c'"


def _trim(column: str) -> str:
    return f"trim(coalesce({column}, ''), {_WS})"


def _classify_sql(path: str, model: PreprocessingModel) -> str:
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in schema.RAW_COLUMNS)
    reasons = schema.REASONS
    product = model.product_code_pattern.replace("'", "''")
    return f"""
    CREATE TABLE classified AS
    WITH raw AS (
        SELECT * FROM read_csv('{path}', header = true, auto_detect = false, columns = {{{columns}}},
                               quote = '"', escape = '"', delim = ',', parallel = true)
    ), trimmed AS (
        SELECT *,
            {_trim("Quantity")} AS q_text, {_trim("UnitPrice")} AS p_text, {_trim("CustomerID")} AS c_text,
            {_trim("InvoiceDate")} AS d_text, {_trim("InvoiceNo")} AS invoice,
            upper({_trim("StockCode")}) AS item, {_trim("Country")} AS country_t
        FROM raw
    ), parsed AS (
        SELECT *,
            regexp_matches(q_text, '{transform._INTEGER}') AS q_ok,
            regexp_matches(p_text, '{transform._DECIMAL}') AS p_shape,
            regexp_matches(c_text, '{transform._CUSTOMER}') AS c_ok,
            regexp_matches(d_text, '{transform._DATE}') AS d_shape,
            regexp_matches(ltrim(invoice, 'C'), '^[0-9]{{6,12}}$') AS invoice_ok,
            regexp_matches(item, '{product}') AS is_product
        FROM trimmed
    ), valued AS (
        SELECT *,
            CASE WHEN q_ok THEN CAST(q_text AS BIGINT) END AS qty,
            CASE WHEN p_shape THEN CAST(p_text AS DOUBLE) END AS prc,
            CASE WHEN c_ok THEN CAST(CAST(split_part(c_text, '.', 1) AS BIGINT) AS VARCHAR) END AS user_id,
            CASE WHEN d_shape THEN try_strptime(d_text, '{schema.DATE_FORMAT}') END AS ts
        FROM parsed
    )
    SELECT *, CASE
            WHEN NOT q_ok OR NOT coalesce(p_shape AND isfinite(prc), false)
                 OR (NOT c_ok AND c_text <> '') THEN '{reasons[1]}'
            WHEN ts IS NULL THEN '{reasons[2]}'
            WHEN NOT invoice_ok THEN '{reasons[3]}'
            WHEN starts_with(invoice, 'C') THEN '{reasons[4]}'
            WHEN c_text = '' THEN '{reasons[5]}'
            WHEN NOT is_product THEN '{reasons[6]}'
            WHEN qty <= 0 THEN '{reasons[7]}'
            WHEN prc <= 0 THEN '{reasons[8]}'
            WHEN qty > {float(model.quantity_cap)!r} THEN '{reasons[9]}'
            WHEN prc > {float(model.price_cap)!r} THEN '{reasons[10]}'
        END AS reason
    FROM valued
    """  # noqa: S608 - built from the job's own patterns, the fitted model and a quoted path


def run(path: str, model: PreprocessingModel, out_dir: str, threads: int = 2, memory_limit: str = "2.5GB") -> dict:
    os.makedirs(out_dir, exist_ok=True)
    out = lambda name: os.path.join(out_dir, name).replace("'", "''")  # noqa: E731
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute(f"SET temp_directory = '{out('duckdb.tmp')}'")
    con.execute("SET preserve_insertion_order = true")  # rowid + 2 is then the row's line in the file
    con.execute(_classify_sql(path.replace("'", "''"), model))
    clean = "FROM classified WHERE reason IS NULL"
    con.execute(
        f"""COPY (SELECT user_id, item AS item_id, epoch(ts)::BIGINT AS timestamp, '{schema.EVENT_TYPE}' AS event_type,
                  round(qty * prc, 2) AS event_value, qty AS quantity, prc AS unit_price, invoice AS invoice_no,
                  country_t AS country {clean})
            TO '{out("interactions.parquet")}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    con.execute(
        f"""COPY (SELECT user_id AS USER_ID, item AS ITEM_ID, epoch(ts)::BIGINT AS TIMESTAMP,
                  '{schema.EVENT_TYPE}' AS EVENT_TYPE, round(qty * prc, 2) AS EVENT_VALUE {clean})
            TO '{out("personalize_interactions.csv")}' (FORMAT csv, HEADER true)"""
    )
    raw = ", ".join(f"coalesce({c}, '') AS {c}" for c in schema.RAW_COLUMNS)
    con.execute(
        f"""COPY (SELECT rowid + 2 AS line, reason, {raw}, NULL::VARCHAR AS raw_line
                  FROM classified WHERE reason IS NOT NULL)
            TO '{out("quarantine.parquet")}' (FORMAT parquet, COMPRESSION zstd)"""  # noqa: S608
    )
    by_reason = dict(con.sql("SELECT reason, count(*) FROM classified GROUP BY ALL").fetchall())
    rows_in = sum(by_reason.values())
    kept = by_reason.pop(None, 0)
    reference = con.sql(f"SELECT max(epoch(ts)::BIGINT) {clean}").fetchall()[0][0] or 0
    users = con.sql(
        f"""SELECT user_id, round(({reference} - max(epoch(ts)::BIGINT)) / 86400.0, 4) AS recency_days,
                   count(DISTINCT invoice) AS frequency, round(sum(round(qty * prc, 2)), 2) AS monetary,
                   arg_max(country_t, rowid) AS country, min(epoch(ts)::BIGINT) AS first_purchase,
                   max(epoch(ts)::BIGINT) AS last_purchase
            {clean} GROUP BY user_id ORDER BY user_id"""
    ).to_arrow_table()
    items = con.sql(
        f"""SELECT item AS item_id, trim(arg_max(coalesce(Description, ''), rowid), {_WS}) AS description,
                   round(sum(prc) / count(*), 4) AS unit_price, count(*) AS popularity,
                   sum(qty)::BIGINT AS quantity, count(DISTINCT user_id) AS buyers
            {clean} GROUP BY item ORDER BY item"""
    ).to_arrow_table()
    con.close()
    users, items = common.encode_features(model, users, items)
    pq.write_table(users, out("user_features.parquet"), compression="zstd")
    pq.write_table(items, out("item_features.parquet"), compression="zstd")
    return common.result(rows_in, kept, by_reason, users, items)
