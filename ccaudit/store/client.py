"""Opening the ClickHouse store through clickhouse-connect: embedded chDB or a server, same code.

The embedded engine can open one data folder per process, for the life of the process, so the
client for a ``chdb://`` DSN is cached per process and a second, different folder is refused with a
clear error instead of chDB's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from ccaudit.errors import ConfigurationError, StoreError, StoreUnavailable

_embedded: dict[str, Client] = {}
_jobs: dict[tuple[str, str], Client] = {}  # job_client's, one per embedded store and job
_embedded_lock = threading.Lock()


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def describe_dsn(dsn: str) -> str:
    """Where ``dsn`` points, for people and logs: never its credentials."""
    if is_embedded(dsn):
        return f"embedded ClickHouse (chDB) in {urlparse(dsn).path}"
    parsed = urlparse(dsn)
    port = f":{parsed.port}" if parsed.port else ""
    return f"ClickHouse at {parsed.scheme}://{parsed.hostname}{port}"


def open_client(dsn: str) -> Client:
    """A clickhouse-connect client for ``dsn`` (``chdb:///path`` or ``http(s)://...``)."""
    if is_embedded(dsn):
        return _open_embedded(dsn)
    parsed = urlparse(dsn)
    if parsed.scheme not in ("http", "https", "clickhouse", "clickhouses"):
        raise ConfigurationError("CCAUDIT_DSN", f"unsupported scheme {parsed.scheme!r} (use chdb:// or http(s)://)")
    try:
        # No session id: concurrent queries in one HTTP session are refused by the server.
        return clickhouse_connect.get_client(dsn=dsn, autogenerate_session_id=False)
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach ClickHouse at {parsed.hostname}:{parsed.port}: {exc}") from exc
    except ClickHouseError as exc:
        raise StoreError(str(exc)) from exc


def _open_embedded(dsn: str) -> Client:
    path = urlparse(dsn).path
    if not path:
        raise ConfigurationError("CCAUDIT_DSN", "an embedded DSN needs a folder: chdb:///path/to/data")
    with _embedded_lock:
        if path in _embedded:
            return _embedded[path]
        if _embedded:
            other = next(iter(_embedded))
            raise StoreError(
                f"this process already holds the embedded store at {other}; chDB opens one folder per process"
            )
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        except ImportError as exc:
            raise ConfigurationError(
                "CCAUDIT_DSN", "the embedded store needs chDB: pip install 'ccaudit[embedded]'"
            ) from exc
        except Exception as exc:  # chDB reports a folder locked by another process this way
            raise StoreUnavailable(f"cannot open the embedded store at {path}: {exc}") from exc
        _embedded[path] = client
        return client


def job_client(client: Client, job: str) -> Client:
    """A client of its own for ``job`` on the store that ``client`` reads: the sealer's long queries
    (``"sealing"``), the learning platform's eligibility questions (``"learning"``), a subject
    export's readers (``"export-0"``, ...). On the embedded store, an engine handle per job: every
    call on one handle waits for the call before it, so a sealing round held up ingest's inserts for
    its whole length, and each eligibility answer waited behind the inserts in flight; the engine
    runs different handles' queries side by side. A server's client already does, and is returned
    as it is."""
    with _embedded_lock:
        path = next((p for p, c in _embedded.items() if c is client), None)
        if path is None:
            return client
        if (path, job) not in _jobs:
            _jobs[path, job] = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        return _jobs[path, job]


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Driver errors → ccaudit's: StoreUnavailable when the store cannot be reached, else StoreError."""
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(str(exc)) from exc
    except ClickHouseError as exc:
        raise StoreError(str(exc)) from exc


def command(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> Any:
    """Run a statement."""
    with mapped_errors():
        return client.command(sql, parameters=parameters)


def query_rows(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> list[Sequence[Any]]:
    """Run a query; its rows."""
    with mapped_errors():
        return list(client.query(sql, parameters=parameters).result_rows)


def query_bytes(
    client: Client, sql: str, parameters: dict[str, Any], fmt: str, settings: dict[str, Any] | None = None
) -> bytes:
    """Run a query; its result as the engine wrote it in format ``fmt``, undecoded."""
    with mapped_errors():
        return bytes(client.raw_query(sql, parameters=parameters, settings=settings, fmt=fmt))


def insert_rows(
    client: Client,
    database: str,
    table: str,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    settings: dict[str, Any] | None = None,
) -> None:
    """Insert rows laid out as ``columns``."""
    with mapped_errors():
        client.insert(table, rows, column_names=list(columns), database=database, settings=settings)


def insert_columns(
    client: Client, database: str, table: str, data: Sequence[Sequence[Any]], columns: Sequence[str]
) -> None:
    """Insert column-oriented data: one sequence of values per name in ``columns``."""
    with mapped_errors():
        client.insert(table, data, column_names=list(columns), database=database, column_oriented=True)


def jsonable(value: Any) -> Any:
    """A value read from the store as the read API returns it: times in ISO 8601 UTC with
    milliseconds and a ``Z`` (the driver hands them back naive, in UTC), UUIDs as text."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, UUID):
        return str(value)
    return value
