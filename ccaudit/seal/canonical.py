"""The canonical form of a stored row and its hashes: the one definition, in Python and in SQL.

A sealed row is hashed in three steps (docs/tamper-evidence.md has the full specification and
``tests/seal/vectors.json`` has test vectors):

1. **commitment** = HMAC-SHA256(key = the row's 32-byte secret, message = the row's personal fields
   in canonical form), hex. The secret is random per row and kept beside its leaf, apart from the
   row; erasure replaces the personal values and destroys the secret, after which the commitment
   still stands in the digest but can no longer confirm a guessed value.
2. **row digest** = SHA-256 of ``"ccaudit/v1/<stream>\\n"`` followed by each public field in canonical
   form, then the commitment.
3. **leaf** = SHA-256 of ``0x00``, the row id, the time the row's retention ends (``expires_ms``)
   and the row digest (raw 32 bytes). The leaf binds the expiry, so a row deleted by its TTL is told
   from a row deleted by hand even when nothing of the row is left.

A field's canonical form is ``lp(text)``: the text's length in UTF-8 bytes, in decimal, ``:``, the
text. Texts by type: strings as they are; UUIDs lower-case with hyphens; times as integer
milliseconds since the epoch (UTC); booleans ``1``/``0``; integers in decimal; enums by name; floats
as the unsigned 64-bit integer of their IEEE 754 bits, in decimal; a missing (NULL) integer or float
as the empty text (``nint``, ``nfloat``: no number's text is empty); a map as its entry count, ``:``,
and ``lp(key) lp(value)`` for each entry in key order (bytewise); an array as its length, ``:``, and
``lp(element)`` for each element in order.

This module imports nothing of the store: an outside verifier uses it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

Kind = Literal["str", "uuid", "ms", "bool", "int", "nint", "enum", "float", "nfloat", "map", "array"]
VERSION = "v1"
DAY_MS = 86_400_000
# The access stream belongs to the service, not to a platform: its chain is sealed under this name,
# which no platform can have (platform names start with a letter or a digit).
SERVICE_PLATFORM = "_service"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class StreamForm:
    """What of a stream's table enters its digests, and how its rows are found."""

    stream: str
    table: str
    public: tuple[Field, ...]
    personal: tuple[Field, ...]
    # SQL text of the row's id (unique within the stream), and the Python fields it is made from.
    id_sql: str
    # The column whose time says when the service stored the row: periods follow it.
    arrival: str
    # A fixed retention for tables without a per-row one (access_events keeps two years).
    fixed_retention_days: int | None
    # ReplacingMergeTree tables are read with FINAL (a redelivered row collapses into one).
    final: bool
    per_platform: bool

    def fields(self) -> tuple[Field, ...]:
        return self.public + self.personal


def _f(spec: str) -> tuple[Field, ...]:
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append(Field(name, kind or "str"))  # type: ignore[arg-type]
    return tuple(out)


AUDIT = StreamForm(
    stream="audit",
    table="audit_events",
    public=_f(
        "event_id:uuid event_time:ms received_at:ms platform organisation actor_role admin_operation:bool "
        "action resource_type method status:int outcome:enum duration_ms:float browser browser_version os "
        "device is_bot:bool request_id trace_id span_id retention_days:int"
    ),
    # Whatever erasure may replace: who acted, on whom, from where, and the free-form parts that can
    # name a person (a route or resource id with a user's id, the details).
    personal=_f(
        "actor_account_id actor_profile_id subject_id route resource_id client_ip peer_ip user_agent details:map"
    ),
    id_sql="toString(event_id)",
    arrival="received_at",
    fixed_retention_days=None,
    final=True,
    per_platform=True,
)

CONSENT = StreamForm(
    stream="consent",
    table="consent_receipts",
    public=_f(
        "event_id:uuid event_time:ms received_at:ms platform categories_accepted:array categories_rejected:array "
        "services_accepted:array services_rejected:array method:enum action:enum policy_revision:int "
        "banner_text_sha256 language gpc:bool dnt:bool retention_days:int"
    ),
    personal=_f("consent_id account_id"),
    id_sql="toString(event_id)",
    arrival="received_at",
    fixed_retention_days=None,
    final=True,
    per_platform=True,
)

ACCESS = StreamForm(
    stream="access",
    table="access_events",
    public=_f("access_id:uuid event_time:ms principal_kind role route kind:enum rows:int complete:bool"),
    personal=_f("principal account_id filters"),
    # An export is recorded twice under one access id (its start, and its end): both are rows.
    id_sql="concat(toString(access_id), if(complete, '/end', '/start'))",
    arrival="event_time",
    fixed_retention_days=730,
    final=False,
    per_platform=False,
)

LEARNING = StreamForm(
    stream="learning",
    table="learning_events",
    public=_f(
        "event_id:uuid event_time:ms received_at:ms platform verb:enum organisation module lesson registration "
        "progress:nint score:nfloat duration_ms:nfloat request_id retention_days:int"
    ),
    # The learner, their profession at the time, and a waiver's free-form reason (it may name someone).
    personal=_f("learner profession reason"),
    id_sql="toString(event_id)",
    arrival="received_at",
    fixed_retention_days=None,
    final=True,
    per_platform=True,
)

# What ccaudit itself changed in sealed rows (erasure, the retention job, legal holds): the records
# the verifier accounts such changes by (ccaudit.seal.changes, migration 0035). Kept for ever (no
# TTL); the leaf's expiry is a century, the table's rows never expire.
CHANGES = StreamForm(
    stream="changes",
    table="seal_changes",
    public=_f("change_id:uuid event_time:ms platform stream row_id change expires_ms:int cause"),
    personal=(),
    id_sql="toString(change_id)",
    arrival="event_time",
    fixed_retention_days=36_500,
    final=False,
    per_platform=False,
)

STREAMS: dict[str, StreamForm] = {form.stream: form for form in (AUDIT, CONSENT, ACCESS, LEARNING, CHANGES)}


# --- Python ---------------------------------------------------------------------------------------


def lp(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return str(len(data)).encode() + b":" + data


def to_ms(value: Any) -> int:
    """Epoch milliseconds of a stored time (the driver's naive UTC datetime), an ISO 8601 text (the
    read API's), or a number of milliseconds."""
    if isinstance(value, bool):
        raise TypeError("a time, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    raise TypeError(f"not a time: {value!r}")


def text_of(kind: Kind, value: Any) -> bytes:
    """The canonical text of one field's value (before ``lp``)."""
    if kind == "str" or kind == "enum":
        return str(value).encode()
    if kind == "uuid":
        return str(UUID(str(value))).encode()
    if kind == "ms":
        return str(to_ms(value)).encode()
    if kind == "bool":
        return b"1" if value else b"0"
    if kind == "int":
        return str(int(value)).encode()
    if kind in ("nint", "nfloat") and value is None:
        return b""
    if kind == "nint":
        return str(int(value)).encode()
    if kind in ("float", "nfloat"):
        return str(struct.unpack("<Q", struct.pack("<d", float(value)))[0]).encode()
    if kind == "map":
        items = sorted(((str(k).encode(), str(v).encode()) for k, v in dict(value).items()), key=lambda kv: kv[0])
        return str(len(items)).encode() + b":" + b"".join(lp(k) + lp(v) for k, v in items)
    if kind == "array":
        elements = [str(e).encode() for e in value]
        return str(len(elements)).encode() + b":" + b"".join(lp(e) for e in elements)
    raise ValueError(f"unknown kind {kind!r}")


def canonical_personal(form: StreamForm, row: Mapping[str, Any]) -> bytes:
    return b"".join(lp(text_of(f.kind, row[f.name])) for f in form.personal)


def commitment(form: StreamForm, row: Mapping[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 of the row's personal fields under its secret, hex."""
    return hmac.new(secret, canonical_personal(form, row), hashlib.sha256).hexdigest()


def canonical_row(form: StreamForm, row: Mapping[str, Any], commitment_hex: str) -> bytes:
    head = f"ccaudit/{VERSION}/{form.stream}\n".encode()
    return head + b"".join(lp(text_of(f.kind, row[f.name])) for f in form.public) + lp(commitment_hex)


def row_digest(form: StreamForm, row: Mapping[str, Any], commitment_hex: str) -> str:
    return hashlib.sha256(canonical_row(form, row, commitment_hex)).hexdigest()


def row_id(form: StreamForm, row: Mapping[str, Any]) -> str:
    if form.stream == "access":
        return f"{UUID(str(row['access_id']))}/{'end' if row['complete'] else 'start'}"
    return str(UUID(str(row["change_id" if form.stream == "changes" else "event_id"])))


def expires_ms(form: StreamForm, row: Mapping[str, Any]) -> int:
    """When the row's TTL may delete it: the table's TTL counts whole days from the event time in
    whole seconds."""
    days = form.fixed_retention_days if form.fixed_retention_days is not None else int(row["retention_days"])
    return to_ms(row["event_time"]) // 1000 * 1000 + days * DAY_MS


def leaf(rid: str, expires: int, digest_hex: str) -> str:
    return hashlib.sha256(b"\x00" + lp(rid) + lp(str(expires)) + bytes.fromhex(digest_hex)).hexdigest()


# --- SQL (the same definitions, for the engine) ---------------------------------------------------


def _lp_args(expr: str) -> str:
    """``lp(expr)`` as arguments of a concat(): a row's canonical text is one concat() of its fields'
    pieces, not a concat() of each field's, which copied every field's text twice."""
    return f"toString(length({expr})), ':', {expr}"


def _lp_sql(expr: str) -> str:
    return f"concat({_lp_args(expr)})"


def _text_sql(f: Field) -> str:
    c = f.name
    if f.kind == "str":
        return f"toString({c})"
    if f.kind in ("uuid", "enum", "int"):
        return f"toString({c})"
    if f.kind == "ms":
        return f"toString(toUnixTimestamp64Milli({c}))"
    if f.kind == "bool":
        return f"if({c}, '1', '0')"
    if f.kind == "float":
        return f"toString(reinterpretAsUInt64(toFloat64({c})))"
    if f.kind == "nint":
        return f"if(isNull({c}), '', toString(assumeNotNull({c})))"
    if f.kind == "nfloat":
        return f"if(isNull({c}), '', toString(reinterpretAsUInt64(toFloat64(assumeNotNull({c})))))"
    if f.kind == "map":
        pair = f"concat({_lp_args('k')}, {_lp_args('v')})"
        entries = f"arrayMap((k, v) -> {pair}, mapKeys(mapSort({c})), mapValues(mapSort({c})))"
        return f"concat(toString(length(mapKeys({c}))), ':', arrayStringConcat({entries}, ''))"
    if f.kind == "array":
        entries = f"arrayMap(e -> {_lp_sql('toString(e)')}, {c})"
        return f"concat(toString(length({c})), ':', arrayStringConcat({entries}, ''))"
    raise ValueError(f"unknown kind {f.kind!r}")


def personal_sql(form: StreamForm) -> str:
    """SQL of the canonical personal fields (the HMAC's message; empty for a form without any)."""
    return "concat(" + "".join(_lp_args(_text_sql(f)) + ", " for f in form.personal) + "'')"


def hmac_sql(message: str, key_hex: str) -> str:
    """SQL of HMAC-SHA256 (RFC 2104; raw 32 bytes) of ``message`` under a 32-byte key given in hex,
    built from two SHA-256 calls: the engine's own HMAC() sets a cipher context up per row and runs
    about 25 times slower."""
    k64 = f"toFixedString(concat(unhex({key_hex}), repeat(char(0), 32)), 64)"
    outer = f"bitXor({k64}, toFixedString(repeat(char(92), 64), 64))"
    inner = f"bitXor({k64}, toFixedString(repeat(char(54), 64), 64))"
    return f"SHA256(concat({outer}, SHA256(concat({inner}, {message}))))"


def digest_sql(form: StreamForm, commitment_expr: str, texts: Mapping[str, str] | None = None) -> str:
    """SQL of the row digest (raw 32 bytes), given SQL of the commitment's hex; ``texts``: SQL of the
    canonical text of some public fields, in place of the row's (the verifier's "as sealed")."""
    head = f"'ccaudit/{VERSION}/{form.stream}\\n'"
    given = texts or {}
    parts = [head, *(_lp_args(given.get(f.name) or _text_sql(f)) for f in form.public), _lp_args(commitment_expr)]
    return "SHA256(concat(" + ", ".join(parts) + "))"


def sealed_days_sql(expires_expr: str) -> str:
    """SQL of the retention days (text) that give the expiry ``expires_expr`` to this row."""
    return f"toString(intDiv({expires_expr} - toInt64(toUnixTimestamp(event_time)) * 1000, {DAY_MS}))"


def expires_sql(form: StreamForm) -> str:
    days = str(form.fixed_retention_days) if form.fixed_retention_days is not None else "toUInt64(retention_days)"
    return f"(toInt64(toUnixTimestamp(event_time)) * 1000 + {days} * {DAY_MS})"


def leaf_sql(id_expr: str, expires_expr: str, digest_expr: str) -> str:
    """SQL of the leaf (hex, lower case), given SQL of the row id, the expiry (Int64) and the raw digest."""
    expires = _lp_args(f"toString({expires_expr})")
    return f"lower(hex(SHA256(concat(char(0), {_lp_args(id_expr)}, {expires}, {digest_expr}))))"


def empty_personal(form: StreamForm) -> dict[str, Any]:
    """Values of a row's personal fields when nothing is known of them (for vectors and tests)."""
    blank: dict[str, Any] = {}
    for f in form.personal:
        blank[f.name] = {} if f.kind == "map" else ""
    return blank


def merkle_order(entries: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(row id, leaf) pairs in the canonical order of a period's tree: by row id, then leaf."""
    return sorted(entries)
