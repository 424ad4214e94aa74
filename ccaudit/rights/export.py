"""Export (GDPR art. 15, 20): every row about a subject in every declared table, machine-readable.

One JSON document: a manifest (per table: its stream, purpose, the register's purposes, legal basis
and retention for the platforms the rows come from, and the row count) and the rows themselves;
``write_export`` also writes one CSV file per table beside it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from queue import Queue
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from ccaudit.register import ProcessingRegister
from ccaudit.rights.catalog import Described, describe, located
from ccaudit.rights.subjects import Subject
from ccaudit.store import Store
from ccaudit.store.client import job_client, jsonable, query_rows


def _value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return jsonable(value)


def _readable(table: Described, column: str) -> str:
    # An aggregate state (learning_state's evidence, profession, organisation) is exported as its value.
    return f"finalizeAggregation({column})" if table.columns[column].startswith("AggregateFunction(") else column


# The tables are read side by side on this many engine handles of the export's own: a subject's rows
# are found through sorting keys, so what is left of each query is the engine's fixed work on the
# table's parts, and the largest tables' queries cost about the same (ccaudit.store.client).
READERS = 2


def export(
    store: Store, register: ProcessingRegister, subject: Subject, now: datetime, readers: int = READERS
) -> dict[str, Any]:
    """The export of ``subject``: {"subject", "generated_at", "manifest": [...], "tables": {name: rows}}."""
    personal = register.personal_details() if subject.extra else ()
    handles: Queue[Client] = Queue()
    for n in range(readers):
        handles.put(job_client(store.client, f"export-{n}"))

    def rows_of(table: Described) -> list[dict[str, Any]]:
        names = list(table.columns)
        where = located(table, store.database, "{ids:Array(String)}", personal)
        if subject.platform is not None and table.has_platform:
            where += " AND platform = {platform:String}"
        order = f" ORDER BY {table.info.time_column}" if table.info.time_column else ""
        final = " FINAL" if table.final and not table.info.append_only else ""
        one = " LIMIT 1 BY event_id" if table.info.append_only else ""
        client = handles.get()
        try:
            rows = query_rows(
                client,
                f"SELECT {', '.join(_readable(table, n) for n in names)} "
                f"FROM {store.database}.{table.name}{final} WHERE {where}{order}{one}",
                {"ids": list(subject.identifiers), "platform": subject.platform or ""},
            )
        finally:
            handles.put(client)
        return [{name: _value(v) for name, v in zip(names, row, strict=True)} for row in rows]

    described = describe(store.client, store.database)
    with ThreadPoolExecutor(readers, thread_name_prefix="ccaudit-export") as pool:
        found_in = list(pool.map(rows_of, described))
    manifest: list[dict[str, Any]] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, found in zip(described, found_in, strict=True):
        tables[table.name] = found
        platforms = sorted({str(r["platform"]) for r in found if "platform" in r}) or [subject.platform or "default"]
        manifest.append({
            "table": table.name,
            "stream": table.info.stream,
            "purpose": table.info.purpose,
            "rows": len(found),
            "csv": f"{table.name}.csv",
            "register": {p: _declared(register, table.info.stream, p, table.info.purposes) for p in platforms},
        })  # fmt: skip
    return {"subject": subject.as_dict(), "generated_at": jsonable(now), "manifest": manifest, "tables": tables}


def _declared(register: ProcessingRegister, stream: str, platform: str, own: tuple[str, ...]) -> dict[str, Any]:
    declaration = register.declaration(platform, stream)
    if declaration is None:
        return {"purposes": list(own), "retention": "while the account is active (not an event stream)"}
    return {
        "purposes": list(declaration.purposes),
        "legal_basis": declaration.legal_basis,
        "retention_days": declaration.retention_days,
        "inactive_days": declaration.inactive_days,
    }


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV; maps and lists as JSON in their cell."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({
                k: orjson.dumps(v).decode() if isinstance(v, dict | list) else v for k, v in row.items()
            })  # fmt: skip
    return buffer.getvalue()


def write_export(document: dict[str, Any], folder: Path) -> list[Path]:
    """``export.json`` and one CSV per table in ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "export.json"]
    written[0].write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    for name, rows in document["tables"].items():
        path = folder / f"{name}.csv"
        path.write_text(to_csv(rows))
        written.append(path)
    return written
