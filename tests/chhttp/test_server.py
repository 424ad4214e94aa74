"""clickhouse-connect's real HTTP path against the ClickHouse HTTP test server (a child process).

With CCAUDIT_TEST_CLICKHOUSE_URL set, the same tests run against that real server instead; only
what needs a server this suite can kill or inspect (SIGKILL, the block-compressed body) is skipped.
"""

# fixed dates: values round-tripped through the HTTP protocol; no clock or TTL reads them.

from __future__ import annotations

import gzip
import http.client
import struct
import threading
import uuid
import zlib
from base64 import b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import lz4.block
import lz4.frame
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.summary import QuerySummary

from ccaudit.errors import StoreUnavailable
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery
from ccaudit.store.client import open_client
from ccaudit.store.migrate import load_migrations
from ccaudit.store.usage import UsageQuery
from tests.chhttp.fixtures import ClickHouseServer, start_clickhouse_server
from tests.conftest import iso_ms
from tests.ingest.test_pipeline import T0, batch, wire
from tests.ingest.test_usage import CHROME, view

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef]


@pytest.fixture
def database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """A database of the test's own, dropped afterwards (the real server is shared)."""
    name = f"chhttp_{uuid.uuid4().hex[:12]}"
    client = clickhouse_server.client(autogenerate_session_id=False)
    client.command(f"CREATE DATABASE {name}")
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()


def raw(
    server: ClickHouseServer,
    method: str,
    path: str = "/",
    params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with the bytes as sent and received (no decoding on either side)."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 8123, timeout=30)
    headers = dict(headers or {})
    if url.username:
        headers["Authorization"] = "Basic " + b64encode(f"{url.username}:{url.password or ''}".encode()).decode()
    target = path + ("?" + urlencode(params) if params else "")
    try:
        chunked = body is not None and not isinstance(body, bytes | str)
        conn.request(method, target, body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_ping_and_root_answer_like_a_server(clickhouse_server: ClickHouseServer) -> None:
    assert raw(clickhouse_server, "GET", "/ping")[0::2] == (200, b"Ok.\n")
    assert raw(clickhouse_server, "GET", "/")[0::2] == (200, b"Ok.\n")
    status, headers, body = raw(clickhouse_server, "GET", "/", {"query": "SELECT 40 + 2"})
    assert (status, body) == (200, b"42\n")
    assert headers["x-clickhouse-format"] == "TabSeparated"
    assert clickhouse_server.client().ping()


def test_connects_and_reads_native_with_server_facts(clickhouse_server: ClickHouseServer) -> None:
    client = clickhouse_server.client()
    assert client.server_version[0].isdigit()
    result = client.query(
        "SELECT toUInt64(number) AS n, toString(number) AS s, toLowCardinality('lc') AS lc, "
        "toDateTime64('2025-11-29 09:53:21.123', 3, 'UTC') AS t, "  # fixed date: a value round-tripped, no clock or TTL
        "toUUID('6f1c2f5e-8d1b-4c0e-9a59-0d2b0c8a7e11') AS id, map('k', toString(number)) AS m, "
        "if(number = 1, NULL, number) AS maybe, [number, number + 1] AS arr FROM numbers(3)"
    )
    assert result.column_names == ("n", "s", "lc", "t", "id", "m", "maybe", "arr")
    first = result.result_rows[0]
    assert first[:3] == (0, "0", "lc")
    assert first[3] == datetime(2025, 11, 29, 9, 53, 21, 123000, tzinfo=first[3].tzinfo)  # fixed date: the same value read back  # fmt: skip
    assert first[4] == UUID("6f1c2f5e-8d1b-4c0e-9a59-0d2b0c8a7e11")
    assert first[5:] == ({"k": "0"}, 0, [0, 1])
    assert result.result_rows[1][6] is None


def test_command_reports_results_and_summaries(clickhouse_server: ClickHouseServer, database: str) -> None:
    client = clickhouse_server.client()
    assert client.command("SELECT 7") == 7
    assert client.command("SELECT 'a', 'b'") == ["a", "b"]
    assert client.command("SELECT 1 WHERE 0") == ""  # a result set, empty
    created = client.command(f"CREATE TABLE {database}.c (a UInt8) ENGINE = MergeTree ORDER BY a")
    assert isinstance(created, QuerySummary)


@pytest.mark.parametrize(
    "value",
    ["plain", "tab\there", "new\nline", "quote ' and \\ backslash", "ünïcødé", "x" * 200_000],
    ids=["plain", "tab", "newline", "quotes", "unicode", "large-form-encoded"],
)
def test_bound_parameters_are_bound_by_the_server(clickhouse_server: ClickHouseServer, value: str) -> None:
    client = clickhouse_server.client()
    when = datetime(2025, 11, 29, 9, 53, 21, 123000, tzinfo=UTC)  # fixed date: a bound parameter echoed, no clock or TTL  # fmt: skip
    ident = uuid.uuid4()
    row = client.query(
        "SELECT {v:String} AS v, {t:DateTime64(3, 'UTC')} AS t, {id:UUID} AS id, {xs:Array(String)} AS xs, "
        "{n:UInt32} AS n",
        parameters={"v": value, "t": when, "id": ident, "xs": [value[:10], "b"], "n": 7},
    ).result_rows[0]
    assert row[0] == value
    assert row[1].replace(tzinfo=UTC) == when
    assert row[2:] == (ident, [value[:10], "b"], 7)


def _wide_rows(n: int) -> list[list[Any]]:
    return [[i, f"row-{i:08d}-" + "p" * 90] for i in range(n)]


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip", True])
def test_inserts_stream_chunked_and_compressed(
    clickhouse_server: ClickHouseServer, database: str, compress: Any
) -> None:
    client = clickhouse_server.client(compress=compress, autogenerate_session_id=False)
    client.command(f"CREATE TABLE {database}.wide (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
    rows = _wide_rows(50_000)  # ~5 MB: several Native blocks, so several compressed frames, chunked
    summary = client.insert("wide", rows, column_names=["n", "s"], database=database)
    assert summary.written_rows == 50_000 or clickhouse_server.external
    got = client.query(f"SELECT count(), sum(n), max(s) FROM {database}.wide").result_rows[0]
    assert got == (50_000, sum(range(50_000)), rows[-1][1])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd", "lz4"])
def test_responses_are_compressed_when_asked(clickhouse_server: ClickHouseServer, encoding: str) -> None:
    sql = "SELECT number FROM numbers(1000) FORMAT TabSeparated"
    status, headers, body = raw(
        clickhouse_server,
        "POST",
        params={"enable_http_compression": "1"},
        body=sql,
        headers={"Accept-Encoding": encoding},
    )
    assert status == 200
    assert headers.get("content-encoding") == encoding
    decode = {"gzip": gzip.decompress, "deflate": zlib.decompress, "zstd": zstd.decompress, "lz4": lz4.frame.decompress}
    assert decode[encoding](body) == "".join(f"{i}\n" for i in range(1000)).encode()
    client = clickhouse_server.client(compress=encoding)
    assert client.query("SELECT sum(number) FROM numbers(1000)").result_rows == [(499500,)]


def test_raw_chunked_body_of_several_lz4_frames(clickhouse_server: ClickHouseServer, database: str) -> None:
    clickhouse_server.client().command(f"CREATE TABLE {database}.r (a UInt32, b String) ENGINE = MergeTree ORDER BY a")
    frames = [lz4.frame.compress(b"".join(f"{i}\tv{i}\n".encode() for i in range(k, k + 100))) for k in (0, 100, 200)]
    status, _, body = raw(
        clickhouse_server,
        "POST",
        params={"query": f"INSERT INTO {database}.r FORMAT TabSeparated"},
        body=iter(frames),
        headers={"Content-Encoding": "lz4"},
    )
    assert status == 200, body
    count = clickhouse_server.client().command(f"SELECT count() FROM {database}.r")
    assert count == 300


def test_block_compressed_body_with_decompress_1(clickhouse_server: ClickHouseServer, database: str) -> None:
    if clickhouse_server.external:
        pytest.skip("the block checksum (CityHash128) is not computed here, a real server would check it")
    clickhouse_server.client().command(f"CREATE TABLE {database}.b (a UInt32) ENGINE = MergeTree ORDER BY a")
    data = f"INSERT INTO {database}.b FORMAT TabSeparated\n".encode() + b"1\n2\n3\n"
    payload = lz4.block.compress(data, store_size=False)
    block = b"\0" * 16 + bytes([0x82]) + struct.pack("<II", len(payload) + 9, len(data)) + payload
    status, _, body = raw(clickhouse_server, "POST", params={"decompress": "1"}, body=block)
    assert status == 200, body
    assert clickhouse_server.client().command(f"SELECT sum(a) FROM {database}.b") == 6


def test_errors_surface_with_the_server_code_and_message(clickhouse_server: ClickHouseServer, database: str) -> None:
    client = clickhouse_server.client()
    with pytest.raises(DatabaseError) as missing:
        client.query(f"SELECT * FROM {database}.no_such_table")
    assert missing.value.code == 60
    assert "UNKNOWN_TABLE" in str(missing.value)
    with pytest.raises(DatabaseError) as syntax:
        client.command("SELEC 1")
    assert syntax.value.code == 62
    assert "Syntax error" in str(syntax.value)
    with pytest.raises(DatabaseError) as unknown_setting:
        client.query("SELECT 1", settings={"no_such_setting_at_all": 1})
    assert unknown_setting.value.code == 115
    with pytest.raises(DatabaseError) as bad_insert:
        client.insert(f"{database}.absent", [[1]], column_names=["a"], column_type_names=["UInt32"])
    assert bad_insert.value.code == 60

    status, headers, body = raw(clickhouse_server, "POST", body=f"SELECT * FROM {database}.no_such_table")
    assert (status, headers["x-clickhouse-exception-code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception: ")
    status, headers, body = raw(clickhouse_server, "POST", body="SELEC 1")
    assert (status, headers["x-clickhouse-exception-code"]) == (400, "62")
    assert b"(SYNTAX_ERROR)" in body


def _max_block_size(client: Any, **settings: Any) -> int:
    return int(client.query("SELECT getSetting('max_block_size')", settings=settings or None).result_rows[0][0])


@pytest.mark.parametrize("session", [False, True], ids=["no-session", "session"])
def test_request_settings_apply_to_that_query_alone(clickhouse_server: ClickHouseServer, session: bool) -> None:
    client = clickhouse_server.client(autogenerate_session_id=session)
    default = _max_block_size(client)
    assert _max_block_size(client, max_block_size=default + 123) == default + 123
    assert _max_block_size(client) == default
    other = clickhouse_server.client(autogenerate_session_id=False)
    assert _max_block_size(other) == default


def test_session_keeps_its_set_statements(clickhouse_server: ClickHouseServer) -> None:
    client = clickhouse_server.client()  # clickhouse-connect's default: a session per client
    client.command("SET max_block_size = 4321")
    assert _max_block_size(client) == 4321
    assert _max_block_size(client, max_block_size=777) == 777
    assert _max_block_size(client) == 4321
    assert _max_block_size(clickhouse_server.client()) != 4321


@pytest.mark.parametrize("session", [False, True], ids=["no-session", "session"])
def test_deduplication_token_never_leaks_into_the_next_insert(
    clickhouse_server: ClickHouseServer, database: str, session: bool
) -> None:
    client = clickhouse_server.client(autogenerate_session_id=session)
    for table in ("first", "second"):
        client.command(
            f"CREATE TABLE {database}.{table} (n UInt32, s String) ENGINE = MergeTree ORDER BY n "
            "SETTINGS non_replicated_deduplication_window = 100"
        )
    rows = [[1, "a"], [2, "b"]]

    def count(table: str) -> int:
        return int(client.command(f"SELECT count() FROM {database}.{table}"))

    # A token, then the same rows without one: two different blocks ids, both stored. Were the
    # token carried over, the second insert would count as a repeat and be dropped.
    client.insert(
        "first", rows, column_names=["n", "s"], database=database, settings={"insert_deduplication_token": "t-1"}
    )
    client.insert("first", rows, column_names=["n", "s"], database=database)
    assert count("first") == 4
    # The same token twice: stored once.
    client.insert(
        "second", rows, column_names=["n", "s"], database=database, settings={"insert_deduplication_token": "t-2"}
    )
    client.insert(
        "second", rows, column_names=["n", "s"], database=database, settings={"insert_deduplication_token": "t-2"}
    )
    assert count("second") == 2


def test_concurrent_clients_query_and_insert(clickhouse_server: ClickHouseServer, database: str) -> None:
    clickhouse_server.client().command(
        f"CREATE TABLE {database}.conc (w UInt8, n UInt32) ENGINE = MergeTree ORDER BY (w, n)"
    )
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            client = clickhouse_server.client(autogenerate_session_id=False)
            for k in range(5):
                client.insert(
                    "conc", [[worker, k * 100 + i] for i in range(100)], column_names=["w", "n"], database=database
                )
                client.query(f"SELECT count() FROM {database}.conc WHERE w = {{w:UInt8}}", parameters={"w": worker})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    counts = (
        clickhouse_server.client().query(f"SELECT w, count() FROM {database}.conc GROUP BY w ORDER BY w").result_rows
    )
    assert counts == [(w, 500) for w in range(4)]


def _events() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [wire(n) for n in range(5)] + [view("198.51.100.9", CHROME, page=f"/p/{n}", when=now) for n in range(3)]


def test_the_store_works_end_to_end_over_http(clickhouse_url: str, database: str) -> None:
    store = Store(open_client(clickhouse_url), database)
    assert [m.version for m in store.migrate()] == [m.version for m in load_migrations()]
    assert store.migrate() == []
    ingestor = Ingestor(Settings(), store)
    events = _events()
    assert ingestor.ingest(batch(events)).accepted == 8
    assert ingestor.ingest(batch(events)).accepted == 8  # a redelivery, stored once

    rows, cursor = store.search_audit(AuditQuery(platform="coop"))
    assert cursor is None
    assert sorted(r["request_id"] for r in rows) == [f"r-{n}" for n in range(5)]
    [one], _ = store.search_audit(AuditQuery(actor="acct-1", request_id="r-1"))
    assert (one["browser"], one["organisation"], one["event_time"]) == ("Mobile Safari", "org-a", iso_ms(T0 + 1000))

    today = datetime.now(UTC).date()
    summary = store.summarise_usage(UsageQuery(since=today - timedelta(days=1), until=today))
    assert summary["page_views"] == 3
    assert sum(d["visitors"] for d in summary["days"]) == 1
    assert {p["key"] for p in summary["pages"]} == {"/p/0", "/p/1", "/p/2"}
    # The day's salt was created once, through a deduplicated insert, and is reused.
    assert ingestor.salts.salt_for(today) == Ingestor(Settings(), store).salts.salt_for(today)


def test_killed_server_makes_the_store_unavailable_and_a_restart_brings_data_back(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    if clickhouse_server.external:
        pytest.skip("a real server from CCAUDIT_TEST_CLICKHOUSE_URL is not killed by tests")
    server = start_clickhouse_server(tmp_path)
    try:
        store = Store(open_client(server.url), "faults")
        store.migrate()
        ingestor = Ingestor(Settings(), store)
        ingestor.ingest(batch([wire(n) for n in range(3)]))

        server.kill()
        assert not store.ping()
        with pytest.raises(StoreUnavailable):
            store.search_audit(AuditQuery())
        with pytest.raises(StoreUnavailable):
            ingestor.ingest(batch([wire(9)]))
        with pytest.raises(StoreUnavailable):
            open_client(server.url)

        server.start()
        assert store.ping()
        rows, _ = store.search_audit(AuditQuery())
        assert sorted(r["request_id"] for r in rows) == ["r-0", "r-1", "r-2"]
        ingestor.ingest(batch([wire(9)]))
        assert len(store.search_audit(AuditQuery())[0]) == 4
    finally:
        assert server.stop() == 0, server.output()
