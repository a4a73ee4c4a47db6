"""Stream a raw month file (plain or gzipped CSV) as Arrow batches with each row's line number.

Memory stays bounded by the block size whatever the file's size. Checks that make the whole file
untrustworthy raise `MalformedInput` with the column and line: wrong header, text that is not
UTF-8. Rows with a wrong number of fields are not fatal: they are handed back for quarantine with
their line and text. Parsing is single-threaded on purpose: it is what gives exact line numbers,
and the transform, not the parse, is where the time goes.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from include.preprocessing import limits, schema

BLOCK_SIZE = limits.MAX_LINE_BYTES  # a line longer than a block cannot be parsed


@dataclass
class InvalidRows:
    """Rows whose field count differs from the header, collected while parsing."""

    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def handler(self, row) -> str:
        self.lines.append(row.number)
        self.texts.append(row.text)
        return "skip"

    def drain(self, up_to_line: int) -> tuple[list[int], list[str]]:
        """Take the rows at or before `up_to_line`. Arrow reports them in file order, so they are a
        prefix: one bisect and two slices, linear in the rows taken (a file of malformed rows is
        read at parse speed, then refused by its share)."""
        cut = bisect.bisect_right(self.lines, up_to_line)
        lines, texts = self.lines[:cut], self.texts[:cut]
        del self.lines[:cut], self.texts[:cut]
        return lines, texts

    def pending(self, from_line: int) -> list[int]:
        return self.lines[bisect.bisect_left(self.lines, from_line) :]


@dataclass
class Block:
    rows: pa.RecordBatch
    lines: np.ndarray  # line number of each row in the file (the header is line 1)
    invalid_lines: list[int]
    invalid_texts: list[str]


def is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_binary(path: str):
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def check_header(path: str, source: str) -> None:
    try:
        with _open_binary(path) as fh:
            first = fh.readline(limits.MAX_LINE_BYTES)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise schema.MalformedInput(f"{source}: corrupt or truncated data ({err})") from err
    if not first:
        raise schema.MalformedInput(f"{source}: the file is empty (no header line)")
    try:
        text = first.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as err:
        raise schema.MalformedInput(f"{source} line 1: the header is not UTF-8 text ({err.reason})") from err
    try:
        header = [h.strip() for h in next(csv.reader([text]), [])]
    except csv.Error as err:
        raise schema.MalformedInput(f"{source} line 1: the header is not CSV text ({err})") from err
    if tuple(header) != schema.RAW_COLUMNS:
        missing = [c for c in schema.RAW_COLUMNS if c not in header]
        extra = [c for c in header if c not in schema.RAW_COLUMNS]
        raise schema.MalformedInput(
            f"{source} line 1: header {header} does not match the expected columns {list(schema.RAW_COLUMNS)} "
            f"(missing {missing}, unexpected {extra})"
        )


def locate_bad_utf8(path: str, source: str) -> schema.MalformedInput:
    """Slow path, only after Arrow refused the text: find the first line and column that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")
    with _open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                decoder().decode(raw, final=True)
            except UnicodeDecodeError:
                try:
                    fields = next(csv.reader([raw.decode("utf-8", errors="replace")]), [])
                except csv.Error:
                    fields = []
                for name, value in zip(schema.RAW_COLUMNS, fields, strict=False):
                    if "\ufffd" in value:
                        return schema.MalformedInput(
                            f"{source}: column {name}, line {number}: text is not UTF-8 ({value!r})"
                        )
                return schema.MalformedInput(f"{source}: line {number}: text is not UTF-8")
    return schema.MalformedInput(f"{source}: text is not UTF-8")


def blocks(path: str, source: str, block_size: int = BLOCK_SIZE) -> Iterator[Block]:
    check_header(path, source)
    invalid = InvalidRows()
    stream = pa.input_stream(path, compression="gzip" if is_gzip(path) else None)
    next_line = 2
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                use_threads=False, block_size=block_size, skip_rows=1, column_names=list(schema.RAW_COLUMNS)
            ),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=invalid.handler, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in schema.RAW_COLUMNS},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            rows = batch.num_rows
            pending = invalid.pending(next_line)
            candidates = np.arange(next_line, next_line + rows + len(pending), dtype=np.int64)
            if pending:
                candidates = candidates[~np.isin(candidates, pending)]
            lines = candidates[:rows]
            last = int(lines[-1]) if rows else next_line - 1 + len(pending)
            bad_lines, bad_texts = invalid.drain(last)
            next_line = last + 1
            yield Block(batch, lines, bad_lines, bad_texts)
        bad_lines, bad_texts = invalid.drain(1 << 62)
        if bad_lines:
            yield Block(
                pa.RecordBatch.from_pylist([], schema=reader.schema), np.empty(0, np.int64), bad_lines, bad_texts
            )
    except pa.ArrowInvalid as err:
        # A row with a wrong field count that is not UTF-8 either cannot reach the handler (Arrow
        # fails decoding it), so it surfaces as a field-count error: locate the bad text instead.
        if "utf8" in str(err).lower() or ("Expected" in str(err) and "columns" in str(err)):
            raise locate_bad_utf8(path, source) from err
        if "straddl" in str(err):
            raise schema.MalformedInput(
                f"{source}: a line after line {next_line - 1} is longer than {block_size:,} bytes "
                f"(the reader's block; the landing refuses lines over {limits.MAX_LINE_BYTES:,} bytes)"
            ) from err
        raise schema.MalformedInput(f"{source}: unparsable CSV near line {next_line} ({err})") from err
    except (OSError, EOFError) as err:
        raise schema.MalformedInput(f"{source}: corrupt or truncated data ({err})") from err
    finally:
        stream.close()


def invalid_rows_table(lines: list[int], texts: list[str]) -> pa.Table:
    n = len(lines)
    return pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            "reason": pa.array([schema.WRONG_FIELD_COUNT] * n, pa.string()),
            **{name: pa.nulls(n, pa.string()) for name in schema.RAW_COLUMNS},
            "raw_line": pa.array(texts, pa.string()),
        },
        schema=schema.QUARANTINE_SCHEMA,
    )


def rows_of(path: str) -> int:
    """Number of data lines (for tests and reports); streams."""
    with _open_binary(path) as fh:
        return sum(1 for _ in io.BufferedReader(fh)) - 1
