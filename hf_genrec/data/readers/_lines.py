"""Line-level file access shared by all readers: gzip, decoding, JSON / Python-literal / delimited parsing.

Every record comes with its 1-based physical line number, so any problem is reported as
``<file>, line <n>: <what is wrong>``.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import os
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

from ...utils.progress import progress
from ..errors import DataFormatError


def open_binary(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise DataFormatError("file not found", path)
    if not path.is_file():
        raise DataFormatError("is not a file", path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_text_lines(path: str | os.PathLike, encoding: str = "utf-8", desc: str | None = None) -> Iterator[Tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line (newline stripped), with a byte-progress bar.

    A line that does not decode raises :class:`DataFormatError` naming the file, line and byte offset.
    A UTF-8 byte-order mark on the first line is dropped. A gzip file that is truncated or not gzip
    at all is reported the same way.
    """
    path = Path(path)
    total = path.stat().st_size if path.exists() and path.suffix != ".gz" else None
    with open_binary(path) as handle, progress(desc=desc or f"reading {path.name}", total=total, unit="B",
                                               unit_scale=True, leave=False) as bar:
        line_no = 0
        try:
            for raw in handle:
                line_no += 1
                if total is not None:
                    bar.update(len(raw))
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as err:
                    raise DataFormatError(
                        f"cannot decode byte {err.start} of the line as {encoding} ({err.reason}); "
                        f"re-save the file as {encoding} or pass the right encoding", path, line_no) from None
                if line_no == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                yield line_no, text.rstrip("\r\n")
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise DataFormatError(f"cannot read the file after line {line_no}: {err}", path) from None


def iter_records(path: str | os.PathLike, parse: Callable[[str], object], what: str,
                 encoding: str = "utf-8") -> Iterator[Tuple[int, Dict]]:
    """Yield ``(line_number, dict)`` for a file with one record per line; blank lines are skipped."""
    seen = False
    for line_no, text in iter_text_lines(path, encoding):
        if not text.strip():
            continue
        try:
            record = parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
            raise DataFormatError(f"malformed {what} record ({type(err).__name__}: {err})", path, line_no) from None
        if not isinstance(record, dict):
            raise DataFormatError(f"expected a {what} object, got {type(record).__name__}", path, line_no)
        seen = True
        yield line_no, record
    if not seen:
        raise DataFormatError(f"file is empty: no {what} records", path)


def iter_jsonl(path: str | os.PathLike, encoding: str = "utf-8") -> Iterator[Tuple[int, Dict]]:
    return iter_records(path, json.loads, "JSON", encoding)


def parse_python_literal(text: str):
    """Parse a Python-literal dict (Amazon 2014 metadata) safely: ``ast.literal_eval``, never ``eval``."""
    return ast.literal_eval(text)


def parse_json_or_literal(text: str):
    """Strict JSON first, Python literal as a fallback (some Amazon dumps mix the two)."""
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def iter_python_literals(path: str | os.PathLike, encoding: str = "utf-8") -> Iterator[Tuple[int, Dict]]:
    return iter_records(path, parse_python_literal, "Python-literal", encoding)


def read_delimited(path: str | os.PathLike, delimiter: str, encoding: str = "utf-8") -> Tuple[List[str], List[List[str]], List[int]]:
    """Read a CSV/TSV file with a header. Returns ``(header, rows, line_numbers)``.

    CSV fields may be quoted (RFC 4180); TSV has no quoting, so a ``"`` is an ordinary character there (a quote
    at the start of an id must not swallow the following lines). Rows whose field count differs from the header
    raise :class:`DataFormatError`.
    """
    lines = iter_text_lines(path, encoding)
    # csv.reader pulls further lines itself for quoted multi-line fields; track the physical line.
    current = {"line": 0}

    def texts():
        for line_no, text in lines:
            current["line"] = line_no
            yield text

    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(texts(), delimiter=delimiter, quoting=quoting)
    header: List[str] | None = None
    rows: List[List[str]] = []
    line_numbers: List[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = [name.strip() for name in row]
                if len(set(header)) != len(header):
                    raise DataFormatError(f"duplicate column names in header {header}", path, current["line"])
                continue
            if len(row) != len(header):
                raise DataFormatError(f"expected {len(header)} fields ({delimiter!r}-separated) but found {len(row)}",
                                      path, current["line"])
            rows.append(row)
            line_numbers.append(current["line"])
    except csv.Error as err:
        raise DataFormatError(f"malformed delimited line: {err}", path, current["line"]) from None
    if header is None:
        raise DataFormatError("file is empty (no header line)", path)
    if not rows:
        raise DataFormatError("file has a header but no data rows", path)
    return header, rows, line_numbers


def sniff_format(path: str | os.PathLike) -> str:
    """Guess a table format from the file name: csv, tsv, jsonl or parquet (``.gz`` allowed)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in ((".tsv", "tsv"), (".tab", "tsv"), (".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                        (".json", "jsonl"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise DataFormatError("cannot tell the table format from the file name; pass format='csv'|'tsv'|'jsonl'|'parquet'",
                          path)



def collect_fields(records: Iterator[Tuple[int, Dict]], fields: Sequence[str]) -> Tuple[Dict[str, List], List[int]]:
    """Gather only ``fields`` from a stream of ``(line, record)`` into columns (absent keys -> ``None``)."""
    columns: Dict[str, List] = {field: [] for field in fields}
    lines: List[int] = []
    for line_no, record in records:
        for field in fields:
            columns[field].append(record.get(field))
        lines.append(line_no)
    return columns, lines
