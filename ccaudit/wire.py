"""The v1 wire format of ``POST /v1/events``: one batch of events, each tagged with its stream.

    {"schema_version": 1, "batch_id": "<uuid>", "platform": "coop",
     "events": [{"stream": "audit", "event_id": "<uuid>", "event_time": 1764421200123, ...}]}

``event_time`` is UTC: epoch milliseconds (an integer) or an ISO 8601 string with an offset. The format
is strict: unknown fields are errors, so a typo in a non-Python client is caught rather than
silently dropped, and values are never coerced (``"200"`` is not a status, ``1.0`` not a schema
version, ``"yes"`` not a boolean; numbers are finite). Streams: ``audit``
``usage`` (page views), ``consent`` (receipts) and ``learning`` (progress in modules and lessons, with
a vocabulary after xAPI/cmi5 verbs; see ``LearningEventIn``); later streams join the ``stream`` union
without changing the envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_EVENTS_PER_BATCH = 10_000
MAX_BATCH_BYTES = 16 * 1024 * 1024  # a request body, compressed or not; larger is refused (413)
# Keys of an audit event's `details`: the Python API keeps the first ones, the wire refuses more.
MAX_DETAILS = 32

# A platform's name, in batches and in ingest tokens: one pattern, so that a token can only be made
# for a name that ingest accepts.
PLATFORM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
PLATFORM_RULE = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63)"

# Names and ids (actor, organisation, subject, resource, details' keys): the Python API cuts what it
# is given to this length, so that it never builds an event the wire would refuse.
MAX_SHORT = 256
_Short = Annotated[str, Field(max_length=MAX_SHORT)]
_Text = Annotated[str, Field(max_length=2048)]
# A request's duration: finite, and at most a day (a longer one is a broken clock, not a request).
_Duration = Annotated[float, Field(ge=0, le=86_400_000, allow_inf_nan=False)]


_TIME_RULE = "use epoch milliseconds (an integer) or an ISO 8601 string with an offset"


def _event_time(value: object) -> object:
    """A datetime from epoch milliseconds or an ISO 8601 string with an offset. Anything else,
    booleans, fractional milliseconds and numbers in strings included, is refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value} epoch milliseconds is not a representable time") from None
    if not isinstance(value, str) or len(value) > 64 or value.strip().lstrip("-").isdigit():
        raise ValueError(_TIME_RULE)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time; {_TIME_RULE}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no offset; {_TIME_RULE}")
    return moment


EventTime = Annotated[
    AwareDatetime,
    BeforeValidator(_event_time),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "description": "epoch milliseconds, UTC"},
            {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"},
        ]
    }),
]  # fmt: skip


def _only_version_1(value: int) -> int:
    if value != SCHEMA_VERSION:
        raise ValueError(f"only schema_version {SCHEMA_VERSION} is defined")
    return value


class _Frozen(BaseModel):
    # strict: JSON's types are the wire's types; nothing is coerced.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False, strict=True)


class AuditEventIn(_Frozen):
    """An audit event on the wire. Everything but id, time, action and outcome may be empty."""

    stream: Literal["audit"]
    event_id: UUID
    event_time: EventTime
    organisation: _Short = ""
    actor_account_id: _Short = ""
    actor_profile_id: _Short = ""
    actor_role: _Short = ""
    admin_operation: bool = False
    subject_id: _Short = ""
    action: Annotated[str, Field(min_length=1, max_length=256)]
    route: _Text = ""
    resource_type: _Short = ""
    resource_id: _Short = ""
    method: Annotated[str, Field(max_length=16)] = ""
    status: Annotated[int, Field(ge=0, le=999)] = 0
    outcome: Literal["success", "denied", "failed", "error", "aborted"]
    duration_ms: _Duration = 0.0
    client_ip: Annotated[str, Field(max_length=64)] = ""
    peer_ip: Annotated[str, Field(max_length=64)] = ""
    user_agent: _Text = ""
    request_id: _Short = ""
    trace_id: Annotated[str, Field(max_length=32)] = ""
    span_id: Annotated[str, Field(max_length=16)] = ""
    details: Annotated[dict[_Short, _Text], Field(max_length=MAX_DETAILS)] = Field(default_factory=dict)


class UsageEventIn(_Frozen):
    """A page view on the wire. ``user_agent`` and ``client_ip`` are used at ingest, never stored."""

    stream: Literal["usage"]
    event_id: UUID
    event_time: EventTime
    page: Annotated[str, Field(min_length=1, max_length=1024)]
    admin_area: bool = False
    referrer_host: Annotated[str, Field(max_length=256)] = ""
    user_agent: _Text = ""
    client_ip: Annotated[str, Field(max_length=64)] = ""


_Category = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
_Categories = Annotated[list[_Category], Field(max_length=32)]
_Service = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
_Services = Annotated[list[_Service], Field(max_length=64)]


class ConsentEventIn(_Frozen):
    """A consent receipt on the wire: proof of a consent given, changed or withdrawn (art. 7(1)).

    No IP address and no user agent: the receipt identifies the visitor only by a pseudonymous
    consent id (and the account id when logged in).
    """

    stream: Literal["consent"]
    event_id: UUID
    event_time: EventTime
    consent_id: UUID
    account_id: _Short = ""
    categories_accepted: _Categories = Field(default_factory=list)
    categories_rejected: _Categories = Field(default_factory=list)
    services_accepted: _Services = Field(default_factory=list)
    services_rejected: _Services = Field(default_factory=list)
    method: Literal["banner", "api"]
    action: Literal["accept_all", "custom", "reject_all", "withdraw"]
    policy_revision: Annotated[int, Field(ge=0, le=2**31 - 1)]
    banner_text_sha256: Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")] = ""
    language: Annotated[str, Field(pattern=r"^([a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3})?$")] = ""
    gpc: bool = False
    dnt: bool = False

    @model_validator(mode="after")
    def _disjoint(self) -> ConsentEventIn:
        if set(self.categories_accepted) & set(self.categories_rejected):
            raise ValueError("a category is both accepted and rejected")
        if set(self.services_accepted) & set(self.services_rejected):
            raise ValueError("a service is both accepted and rejected")
        return self


LearningVerb = Literal[
    "registered", "initialized", "progressed", "completed", "passed", "failed", "terminated", "satisfied", "waived"
]  # fmt: skip
# The optional fields each verb carries, and the ones it must carry; any other optional field given
# is refused, naming it, so a platform that sends a score with "completed" hears so at once.
LEARNING_FIELDS: dict[str, frozenset[str]] = {
    "registered": frozenset(),
    "initialized": frozenset({"duration_ms"}),
    "progressed": frozenset({"progress", "duration_ms"}),
    "completed": frozenset({"duration_ms"}),
    "passed": frozenset({"score", "duration_ms"}),
    "failed": frozenset({"score", "duration_ms"}),
    "terminated": frozenset({"duration_ms"}),
    "satisfied": frozenset({"reason"}),
    "waived": frozenset({"reason"}),
}
LEARNING_REQUIRED: dict[str, frozenset[str]] = {
    "progressed": frozenset({"progress"}),
    "waived": frozenset({"reason"}),
}
_LEARNING_OPTIONAL = ("progress", "score", "reason", "duration_ms")
_Id = Annotated[str, Field(min_length=1, max_length=MAX_SHORT)]


class LearningEventIn(_Frozen):
    """A learner's step in a module on the wire (stream ``learning``), modelled on xAPI/cmi5 verbs.

    ``learner`` is the learner's account on the platform; ``lesson`` '' means the module itself;
    ``registration`` is the attempt (cmi5's registration); ``profession`` is the learner's profession
    at that moment (employee, student, teacher, ...). ``progress`` (0 to 100) only with ``progressed``,
    ``score`` (scaled, -1..1) only with ``passed``/``failed``, ``reason`` with ``waived`` (required)
    and ``satisfied``, ``duration_ms`` where a verb has one.
    """

    stream: Literal["learning"]
    event_id: UUID
    event_time: EventTime
    verb: LearningVerb
    learner: _Id
    organisation: _Short = ""
    module: _Id
    lesson: _Short = ""
    registration: _Short = ""
    profession: _Short = ""
    progress: Annotated[int, Field(ge=0, le=100)] | None = None
    score: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    duration_ms: _Duration | None = None
    request_id: _Short = ""

    @model_validator(mode="after")
    def _per_verb(self) -> LearningEventIn:
        allowed = LEARNING_FIELDS[self.verb]
        for name in _LEARNING_OPTIONAL:
            given = getattr(self, name) is not None
            if given and name not in allowed:
                raise ValueError(f"{name}: the verb {self.verb!r} carries no {name}")
            if not given and name in LEARNING_REQUIRED.get(self.verb, ()):
                raise ValueError(f"{name}: the verb {self.verb!r} needs a {name}")
        return self


AnyEventIn = AuditEventIn | UsageEventIn | ConsentEventIn | LearningEventIn
EventIn = Annotated[AnyEventIn, Field(discriminator="stream")]
_event_adapter: TypeAdapter[AnyEventIn] = TypeAdapter(EventIn)


class _Envelope(_Frozen):
    schema_version: Annotated[int, AfterValidator(_only_version_1), WithJsonSchema({"const": SCHEMA_VERSION})]
    batch_id: UUID
    platform: Annotated[str, Field(pattern=PLATFORM_PATTERN)]


class Batch(_Envelope):
    """A whole valid batch, validated from the JSON bytes in one pass (the common case, in Rust)."""

    events: Annotated[list[EventIn], Field(max_length=MAX_EVENTS_PER_BATCH)]


class BatchEnvelope(_Envelope):
    """The batch without its events, which are validated one by one to name each failure."""

    events: Annotated[list[dict[str, Any]], Field(max_length=MAX_EVENTS_PER_BATCH)]


def _reason(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def parse_events(raw: list[dict[str, Any]]) -> tuple[list[AnyEventIn], list[tuple[int, str]]]:
    """Validate each event; return the valid ones and ``(index, reason)`` for each invalid one.

    One event at a time, to name every bad one. This is the slow path: the service and the
    in-process transport validate a batch whole from its bytes (``parse_batch``) and come here only
    when that fails, so a whole-batch attempt here would fail again.
    """
    good: list[AnyEventIn] = []
    bad: list[tuple[int, str]] = []
    for index, item in enumerate(raw):
        try:
            good.append(validate_event(item))
        except ValidationError as exc:
            bad.append((index, _reason(exc)))
    return good, bad


def validate_event(item: object) -> AnyEventIn:
    """One decoded wire event, validated as JSON is (strict mode reads UUIDs and times from JSON
    strings, not from Python strings); raises ValidationError."""
    return _event_adapter.validate_json(orjson.dumps(item))


def parse_batch(body: bytes) -> Batch | None:
    """The batch in ``body`` if it is valid JSON and a valid batch; None otherwise, and the caller
    decodes it and validates it piece by piece to say what is wrong (the slow path, for bad input)."""
    try:
        return Batch.model_validate_json(body)
    except ValidationError:
        return None


def parse_envelope(data: object) -> BatchEnvelope:
    """Validate the envelope; raises ValueError with a readable reason."""
    try:
        return BatchEnvelope.model_validate_json(orjson.dumps(data))
    except (ValidationError, orjson.JSONEncodeError) as exc:
        if isinstance(exc, orjson.JSONEncodeError):
            raise ValueError(f"not a JSON batch: {exc}") from None
        raise ValueError(_reason(exc)) from None
