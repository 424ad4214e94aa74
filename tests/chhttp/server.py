"""A ClickHouse-HTTP-compatible server backed by the embedded engine (chDB), for tests.

    python -m tests.chhttp.server --data DIR --port PORT [--host 127.0.0.1] [--password PW]

It prints ``chhttp ready on http://HOST:PORT data=DIR`` once it accepts requests and exits with 0
on SIGTERM or SIGINT. It speaks enough of ClickHouse's HTTP interface for clickhouse-connect's
real HTTP client, so that tests exercise that path (and can kill the "server" with SIGKILL):

- ``GET /ping`` and ``GET /`` answer ``Ok.``; any other path is a 404 like the server's.
- The query comes from the ``query`` URL parameter, the body, or both (parameter, newline, body),
  or from a multipart form (clickhouse-connect switches to one for large bound parameters).
- ``param_<name>`` URL parameters bind ``{name:Type}`` placeholders through the engine itself.
- Every other URL parameter that is not one of the interface's own (``database``, ``query_id``,
  ``session_id``, ``default_format``, ...) is a setting for this request's query alone.
- Request bodies: ``Content-Length`` or chunked, ``Content-Encoding`` gzip, deflate, lz4 (one or
  more frames), zstd (one or more frames) or br (when brotli is installed); ``decompress=1``
  bodies in ClickHouse's block format (LZ4, ZSTD or none; the CityHash checksums are not checked).
- Responses are compressed with the client's first acceptable encoding (``Accept-Encoding``) when
  ``enable_http_compression`` is on for the request (the engine's default is on, as clickhouse-connect
  reads from ``system.settings``). ``compress=1`` (ClickHouse's block format
  on responses needs CityHash128 checksums) is refused with NOT_IMPLEMENTED.
- ``INSERT ... FORMAT <fmt>`` followed by data: the data (after the first newline, as the server's
  parser does it) is written to a temporary file and inserted with ``FROM INFILE``.
- Errors: the status ClickHouse gives the code (400, 404, 500, ...), ``X-ClickHouse-Exception-Code``
  and a ``Code: N. DB::Exception: ... (NAME) (version V)`` body.
- Sessions (``session_id``): the SET and USE statements run in a session are replayed before
  each of its later queries; concurrent queries in one session are refused as the server does.
  Temporary tables do not outlive their request.

Isolation: every request runs on a connection handle of its own, opened for the request and
closed after it. chDB keeps SET state per handle, so a request's settings (applied with SET on
that handle before its one query) exist for that query only and can never reach another request,
whatever happens: nothing is restored, the handle is simply gone.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import gzip
import json
import re
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb
import lz4.block
import lz4.frame

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # Python < 3.14: the backport clickhouse-connect depends on
    from backports import zstd  # type: ignore[import-not-found,no-redef]

try:
    import brotli  # type: ignore[import-not-found]
except ImportError:
    brotli = None

# URL parameters the HTTP interface consumes itself; every other one is a setting (or param_*).
INTERFACE_PARAMS = frozenset(
    {
        "query", "database", "default_format", "user", "password", "query_id", "session_id",
        "session_timeout", "session_check", "compress", "decompress", "buffer_size", "wait_end_of_query",
        "quota_key", "client_protocol_version", "role", "stacktrace",
    }
)  # fmt: skip

# The server's mapping of error codes to HTTP statuses (by name; codes are looked up in the engine).
STATUS_BY_ERROR = {
    400: (
        "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
        "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6", "CANNOT_PARSE_UUID", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "TOO_DEEP_AST", "TOO_BIG_AST",
        "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    ),
    401: ("REQUIRED_PASSWORD",),
    403: ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE"),
    404: (
        "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
        "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
        "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE",
    ),
    411: ("HTTP_LENGTH_REQUIRED",),
    413: ("QUERY_IS_TOO_LARGE",),
    501: ("NOT_IMPLEMENTED",),
    503: ("SOCKET_TIMEOUT", "CANNOT_OPEN_FILE"),
}  # fmt: skip

CONTENT_TYPES = {
    "Native": "application/octet-stream",
    "RowBinary": "application/octet-stream",
    "RowBinaryWithNamesAndTypes": "application/octet-stream",
    "Arrow": "application/octet-stream",
    "Parquet": "application/octet-stream",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8",
    "TSVWithNames": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}

# Statements whose result is a table: the server reports their output format even when empty.
RESULT_STATEMENTS = frozenset({b"SELECT", b"WITH", b"SHOW", b"DESCRIBE", b"DESC", b"EXISTS", b"EXPLAIN", b"CHECK"})

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_FORMAT_NAME = re.compile(rb"\s+([A-Za-z][A-Za-z0-9_]*)")
_TRAILING_FORMAT = re.compile(rb"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*(?:SETTINGS\b[^;]*)?;?\s*$", re.I)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE = re.compile(r"Code: (\d+)\.")
_WHITESPACE = b" \t\r\n\f\v"


class ClickHouseError(Exception):
    """An error reported the way the server reports it."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# --- SQL scanning: just enough to find an INSERT's data and a statement's kind ----------------


def _skip_quoted(text: bytes, i: int) -> int:
    quote = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == 0x5C:  # backslash escape
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return len(text)


def _words(text: bytes) -> Iterator[tuple[int, bytes, int, int]]:
    """(paren depth, upper-cased word, start, end) of bare words outside quotes and comments."""
    i, depth = 0, 0
    while i < len(text):
        c = text[i]
        if c in b"'\"`":
            i = _skip_quoted(text, i)
        elif text.startswith(b"--", i):
            j = text.find(b"\n", i)
            i = len(text) if j < 0 else j + 1
        elif text.startswith(b"/*", i):
            j = text.find(b"*/", i + 2)
            i = len(text) if j < 0 else j + 2
        elif c == 0x28:
            depth += 1
            i += 1
        elif c == 0x29:
            depth -= 1
            i += 1
        else:
            match = _WORD.match(text, i)
            if match is None:
                i += 1
                continue
            yield depth, match.group().upper(), match.start(), match.end()
            i = match.end()


def first_keyword(text: bytes) -> bytes:
    for _depth, word, _start, _end in _words(text):
        return word
    return b""


@dataclass(frozen=True)
class InsertWithData:
    head: bytes  # INSERT INTO t (cols) — up to the SETTINGS clause or FORMAT
    settings: bytes  # the SETTINGS clause of the statement, if any
    fmt: str
    data: bytes


def split_insert(text: bytes) -> InsertWithData | None:
    """An ``INSERT ... FORMAT <fmt>`` statement followed by its data, or None for any other SQL."""
    words = _words(text)
    first = next(words, None)
    if first is None or first[1] != b"INSERT":
        return None
    settings_at: int | None = None
    for depth, word, start, end in words:
        if depth:
            continue
        if word in (b"VALUES", b"SELECT", b"WITH"):
            return None
        if word == b"SETTINGS" and settings_at is None:
            settings_at = start
        elif word == b"FORMAT":
            name = _FORMAT_NAME.match(text, end)
            if name is None:
                return None
            # The server's rule: data starts after the first newline, or after all the whitespace.
            i = name.end()
            while i < len(text) and text[i] in _WHITESPACE:
                i += 1
                if text[i - 1] == 0x0A:
                    break
            head_end = settings_at if settings_at is not None else start
            return InsertWithData(text[:head_end], text[head_end:start], name.group(1).decode(), text[i:])
    return None


# --- bodies ------------------------------------------------------------------------------------


def _lz4_frames(data: bytes) -> bytes:
    out = []
    while data:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out.append(decompressor.decompress(data))
        if not decompressor.eof:
            raise ValueError("truncated lz4 frame")
        data = decompressor.unused_data
    return b"".join(out)


def decode_content(body: bytes, encoding: str, engine: Engine) -> bytes:
    """Undo ``Content-Encoding`` (codings listed in the order they were applied)."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        try:
            if coding in ("identity", "none"):
                continue
            if coding in ("gzip", "x-gzip"):
                body = gzip.decompress(body)
            elif coding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            elif coding == "lz4":
                body = _lz4_frames(body)
            elif coding == "zstd":
                body = zstd.decompress(body)
            elif coding == "br" and brotli is not None:
                body = brotli.decompress(body)
            else:
                raise engine.error("UNKNOWN_COMPRESSION_METHOD", f"Unknown HTTP content encoding: {coding}")
        except ClickHouseError:
            raise
        except Exception as exc:
            raise engine.error("CANNOT_DECOMPRESS", f"Cannot decompress the request body ({coding}): {exc}") from exc
    return body


def decode_clickhouse_blocks(body: bytes, engine: Engine) -> bytes:
    """ClickHouse's compressed block stream (``decompress=1``): checksum, method, sizes, payload."""
    out = []
    i = 0
    while i < len(body):
        if len(body) - i < 25:
            raise engine.error("CANNOT_DECOMPRESS", "truncated compressed block header")
        method = body[i + 16]
        compressed_size, size = struct.unpack_from("<II", body, i + 17)
        payload = body[i + 25 : i + 16 + compressed_size]
        if compressed_size < 9 or len(payload) != compressed_size - 9:
            raise engine.error("CANNOT_DECOMPRESS", "truncated compressed block")
        if method == 0x82:
            out.append(lz4.block.decompress(payload, uncompressed_size=size))
        elif method == 0x90:
            out.append(zstd.decompress(payload))
        elif method == 0x02:
            out.append(payload)
        else:
            raise engine.error("UNKNOWN_COMPRESSION_METHOD", f"Unknown compression method {method:#x}")
        i += 16 + compressed_size
    return b"".join(out)


def encode_content(body: bytes, accept: str) -> tuple[bytes, str | None]:
    """Compress a response with the client's first acceptable encoding."""
    for token in accept.split(","):
        coding = token.split(";")[0].strip().lower()
        if coding == "gzip":
            return gzip.compress(body, compresslevel=3), coding
        if coding == "deflate":
            return zlib.compress(body, 3), coding
        if coding == "zstd":
            return zstd.compress(body), coding
        if coding == "lz4":
            return lz4.frame.compress(body), coding
        if coding == "br" and brotli is not None:
            return brotli.compress(body), coding
    return body, None


# --- the engine and sessions ---------------------------------------------------------------------


@dataclass
class Session:
    statements: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    expires: float = 0.0


class Engine:
    """The embedded engine on one data folder: a handle per request, sessions, error codes."""

    def __init__(self, data: Path, password: str = "") -> None:
        self.path = str(data.resolve())
        data.mkdir(parents=True, exist_ok=True)
        # The process's first handle starts the engine; it stays open so the engine lives on.
        self._root = chdb.connect(self.path)
        version, tz = self._root.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().split("\t")
        self.version = version.strip()
        self.timezone = tz.strip()
        rows = self._root.query(
            "SELECT number, errorCodeToName(number) FROM numbers(2000) WHERE errorCodeToName(number) != ''",
            "TabSeparated",
        ).bytes()
        self.codes = {name: int(code) for code, name in (line.split("\t") for line in rows.decode().splitlines())}
        self.names = {code: name for name, code in self.codes.items()}
        self.status = {
            self.codes[n]: status for status, names in STATUS_BY_ERROR.items() for n in names if n in self.codes
        }
        # The server-wide default of response compression (clickhouse-connect reads it at connect).
        self.http_compression = (
            self._root.query("SELECT value FROM system.settings WHERE name = 'enable_http_compression'", "TabSeparated")
            .bytes()
            .decode()
            .strip()
        )
        self.users = {"default": password}
        self.sessions: dict[str, Session] = {}
        self._sessions_lock = threading.Lock()
        self.spool = Path(tempfile.mkdtemp(prefix="chhttp-"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._root.close()
        shutil.rmtree(self.spool, ignore_errors=True)

    def error(self, name: str, message: str) -> ClickHouseError:
        return ClickHouseError(self.codes.get(name, 1001), name, message)

    def from_engine(self, exc: Exception) -> ClickHouseError:
        text = str(exc).strip()
        at = text.find("Code: ")
        if at > 0:
            text = text[at:]
        match = _CODE.match(text)
        if match is None:
            return self.error("STD_EXCEPTION", f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)")
        code = int(match.group(1))
        return ClickHouseError(code, self.names.get(code, "UNKNOWN_EXCEPTION"), text)

    def authenticate(self, user: str, password: str) -> None:
        if self.users.get(user) != password:
            raise self.error(
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name.",
            )

    @contextlib.contextmanager
    def session(self, session_id: str | None, timeout: float, check: bool) -> Iterator[Session | None]:
        if not session_id:
            yield None
            return
        now = time.monotonic()
        with self._sessions_lock:
            for key in [k for k, s in self.sessions.items() if s.expires < now and not s.lock.locked()]:
                del self.sessions[key]
            session = self.sessions.get(session_id)
            if session is None:
                if check:
                    raise self.error("SESSION_NOT_FOUND", f"Session {session_id} not found")
                session = self.sessions[session_id] = Session()
            if not session.lock.acquire(blocking=False):
                raise self.error("SESSION_IS_LOCKED", f"Session {session_id} is locked by a concurrent client")
        try:
            yield session
        finally:
            session.expires = time.monotonic() + timeout
            session.lock.release()

    def execute(
        self,
        sql: bytes,
        bind: dict[str, str],
        settings: dict[str, str],
        database: str | None,
        default_format: str,
        session: Session | None,
        readonly: bool,
    ) -> tuple[Any, str | None]:
        """Run one statement on a handle of its own; the result and its output format (None for none)."""
        conn = chdb.connect(self.path)
        try:
            for statement, params in session.statements if session else ():
                conn.query(statement, "TabSeparated", params=params)
            if database:
                conn.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
            for name, value in settings.items():
                if not _SETTING_NAME.match(name):
                    raise self.error("UNKNOWN_SETTING", f"Unknown setting '{name}'")
                literal = value.replace("\\", "\\\\").replace("'", "\\'")
                conn.query(f"SET {name} = '{literal}'", "TabSeparated")
            if readonly and "readonly" not in settings:
                conn.query("SET readonly = 2", "TabSeparated")
            insert = split_insert(sql)
            if insert is not None:
                return self._insert(conn, insert, bind), None
            explicit = _TRAILING_FORMAT.search(sql)
            fmt = explicit.group(1).decode() if explicit else default_format
            result = conn.query(sql, fmt, params=bind)
            keyword = first_keyword(sql)
            if session is not None and keyword in (b"SET", b"USE"):
                session.statements.append((sql, bind))
            return result, (fmt if explicit or keyword in RESULT_STATEMENTS else None)
        except ClickHouseError:
            raise
        except Exception as exc:
            raise self.from_engine(exc) from exc
        finally:
            conn.close()

    def _insert(self, conn: Any, insert: InsertWithData, bind: dict[str, str]) -> Any:
        path = self.spool / f"{uuid.uuid4().hex}.data"
        path.write_bytes(insert.data)
        try:
            quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
            sql = (
                insert.head + f" FROM INFILE '{quoted}' ".encode() + insert.settings + f" FORMAT {insert.fmt}".encode()
            )
            return conn.query(sql, "TabSeparated", params=bind)
        finally:
            path.unlink(missing_ok=True)


def summary(result: Any) -> dict[str, str]:
    def stat(name: str) -> str:
        try:
            return str(int(getattr(result, name)()))
        except Exception:
            return "0"

    try:
        elapsed = str(int(result.elapsed() * 1_000_000_000))
    except Exception:
        elapsed = "0"
    return {
        "read_rows": stat("rows_read"),
        "read_bytes": stat("bytes_read"),
        "written_rows": stat("rows_written"),
        "written_bytes": stat("bytes_written"),
        "total_rows_to_read": "0",
        "result_rows": "0",
        "result_bytes": "0",
        "elapsed_ns": elapsed,
    }


# --- HTTP -----------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chhttp"
    engine: Engine  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"chhttp {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("connection closed inside a chunk")
                parts.append(chunk)
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ConnectionError("connection closed inside the body")
        return body

    def _handle(self) -> None:
        engine = self.engine
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        common = {
            "X-ClickHouse-Server-Display-Name": "chhttp",
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": engine.timezone,
        }
        try:
            body = self._read_body() if self.command == "POST" else b""
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and self.command == "GET" and not params):
            self._send(Reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"}))
            return
        try:
            if url.path != "/":
                raise engine.error("UNKNOWN_TYPE_OF_QUERY", f"There is no handle {url.path}")
            reply = self._query(params, body, common)
        except ClickHouseError as exc:
            message = (
                exc.message
                if exc.message.startswith("Code: ")
                else f"Code: {exc.code}. DB::Exception: {exc.message}. ({exc.name})"
            )
            if "(version " not in message:
                message = f"{message} (version {engine.version})"
            headers = dict(
                common, **{"X-ClickHouse-Exception-Code": str(exc.code), "Content-Type": "text/plain; charset=UTF-8"}
            )
            reply = Reply(engine.status.get(exc.code, 500), f"{message}\n".encode(), headers)
        self._send(reply)

    def _credentials(self, params: dict[str, str]) -> tuple[str, str]:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            user, _, password = b64decode(auth[6:].strip()).decode().partition(":")
            return user, password
        user = self.headers.get("X-ClickHouse-User") or params.get("user") or "default"
        return user, self.headers.get("X-ClickHouse-Key") or params.get("password") or ""

    def _query(self, params: dict[str, str], body: bytes, common: dict[str, str]) -> Reply:
        engine = self.engine
        engine.authenticate(*self._credentials(params))
        if params.get("compress") in ("1", "true"):
            raise engine.error("NOT_IMPLEMENTED", "compress=1 (compressed block responses) is not supported here")
        if self.headers.get("Content-Encoding"):
            body = decode_content(body, self.headers["Content-Encoding"], engine)
        if params.get("decompress") in ("1", "true"):
            body = decode_clickhouse_blocks(body, engine)
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            body = self._form(content_type, body, params)
        query = params.get("query", "").encode()
        sql = query + b"\n" + body if query else body
        if not sql.strip():
            raise engine.error("SYNTAX_ERROR", "Empty query")
        bind = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k not in INTERFACE_PARAMS and not k.startswith("param_")}
        database = self.headers.get("X-ClickHouse-Database") or params.get("database") or None
        default_format = self.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated"
        timeout = float(params.get("session_timeout") or 60)
        with engine.session(params.get("session_id"), timeout, params.get("session_check") in ("1", "true")) as session:
            result, fmt = engine.execute(
                sql, bind, settings, database, default_format, session, readonly=self.command == "GET"
            )
        out = result.bytes() or b""
        headers = dict(common)
        headers["Content-Type"] = CONTENT_TYPES.get(fmt or "", "text/plain; charset=UTF-8")
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        headers["X-ClickHouse-Summary"] = json.dumps(summary(result), separators=(",", ":"))
        compress = settings.get("enable_http_compression", engine.http_compression) in ("1", "true")
        if compress and self.headers.get("Accept-Encoding"):
            out, coding = encode_content(out, self.headers["Accept-Encoding"])
            if coding:
                headers["Content-Encoding"] = coding
        return Reply(200, out, headers)

    def _form(self, content_type: str, body: bytes, params: dict[str, str]) -> bytes:
        """Multipart fields (``query``, ``param_*``) become parameters; files would be external data."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                raise self.engine.error("NOT_IMPLEMENTED", "external data (temporary tables) is not supported here")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                params[name] = payload.decode() if isinstance(payload, bytes) else str(payload)
        return b""


def serve(data: Path, host: str, port: int, password: str = "") -> None:
    engine = Engine(data, password)
    handler = type("BoundHandler", (Handler,), {"engine": engine})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()
    bound_host, bound_port = server.server_address[:2]
    print(f"chhttp ready on http://{bound_host}:{bound_port} data={engine.path}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        engine.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="the engine's data folder")
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--password", default="", help="password of the 'default' user")
    args = parser.parse_args(argv)
    serve(args.data, args.host, args.port, args.password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
