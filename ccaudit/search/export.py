"""Rows of an export written as CSV or JSON Lines, a chunk at a time.

CSV: a header row, RFC 4180 quoting (the csv module's), one line per event. A cell that a spreadsheet
would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with ``'`` (OWASP's advice against CSV injection): an event's fields come from platforms and
their users, and an auditor opens the file. The details map is one JSON cell.
JSON Lines: one JSON object per event, as the read API returns it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from ccaudit.store.audit import READ_COLUMNS
from ccaudit.store.client import jsonable

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
# Rows gathered into one chunk: large enough to keep the writes few, small enough to stay flat.
CHUNK_ROWS = 1000
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    value = jsonable(value)
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def encode(rows: Iterable[Sequence[Any]], fmt: Format, counter: list[int]) -> Iterator[bytes]:
    """``rows`` (READ_COLUMNS) in ``fmt``, as chunks of bytes; ``counter[0]`` counts the rows written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(READ_COLUMNS)
    pending = 0
    for row in rows:
        if fmt == "csv":
            writer.writerow([_cell(v) for v in row])
        else:
            event = {k: jsonable(v) for k, v in zip(READ_COLUMNS, row, strict=True)}
            buffer.write(json.dumps(event, ensure_ascii=False) + "\n")
        counter[0] += 1
        pending += 1
        if pending >= CHUNK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue().encode()
