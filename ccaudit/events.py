"""Events as the capture side builds them: immutable, cheap to create, turned into wire dicts later.

Creating one is the main work the request path does per audited request, so an event is a
``NamedTuple`` (built in C, immutable) rather than a validating model; validation happens at ingest
(``ccaudit.wire``), off the request path.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class AuditEvent(NamedTuple):
    """One audited operation (stream ``audit``). Times are UTC epoch milliseconds."""

    event_id: str
    event_time_ms: int
    organisation: str
    actor_account_id: str
    actor_profile_id: str
    actor_role: str
    admin_operation: bool
    subject_id: str
    action: str
    route: str
    resource_type: str
    resource_id: str
    method: str
    status: int
    outcome: str
    duration_ms: float
    client_ip: str
    peer_ip: str
    user_agent: str
    request_id: str
    trace_id: str
    span_id: str
    details: dict[str, str]

    def to_wire(self) -> dict[str, Any]:
        """The event as the v1 wire format's JSON object (see ``ccaudit.wire``)."""
        wire = dict(zip(_WIRE_NAMES, self, strict=True))
        wire["stream"] = "audit"
        return wire


# Field names on the wire: the same, except that the time is called event_time there.
_WIRE_NAMES = tuple("event_time" if name == "event_time_ms" else name for name in AuditEvent._fields)


class UsageEvent(NamedTuple):
    """One page view (stream ``usage``), built only when the visitor's consent allows analytics.

    It carries the user-agent string and client IP only as far as ingest, which derives browser,
    device, country and the day's visitor hash from them and then drops them. There is no account
    id: usage analytics is anonymous.
    """

    event_id: str
    event_time_ms: int
    page: str
    admin_area: bool
    referrer_host: str
    user_agent: str
    client_ip: str

    def to_wire(self) -> dict[str, Any]:
        wire = dict(zip(_USAGE_WIRE_NAMES, self, strict=True))
        wire["stream"] = "usage"
        return wire


_USAGE_WIRE_NAMES = tuple("event_time" if name == "event_time_ms" else name for name in UsageEvent._fields)


class ConsentEvent(NamedTuple):
    """A consent receipt (stream ``consent``): a consent given, changed or withdrawn.

    Proof of consent (GDPR art. 7(1)): who (a pseudonymous consent id, and the account id when the
    visitor is logged in), what (categories and services accepted and rejected), how (``method``
    banner or api, ``action``), under which policy revision and banner text (its SHA-256), in which
    language, and whether the browser sent GPC or DNT. Never an IP address or a user agent.
    """

    event_id: str
    event_time_ms: int
    consent_id: str
    account_id: str
    categories_accepted: tuple[str, ...]
    categories_rejected: tuple[str, ...]
    services_accepted: tuple[str, ...]
    services_rejected: tuple[str, ...]
    method: str
    action: str
    policy_revision: int
    banner_text_sha256: str
    language: str
    gpc: bool
    dnt: bool

    def to_wire(self) -> dict[str, Any]:
        wire = dict(zip(_CONSENT_WIRE_NAMES, self, strict=True))
        wire["categories_accepted"] = list(self.categories_accepted)
        wire["categories_rejected"] = list(self.categories_rejected)
        wire["services_accepted"] = list(self.services_accepted)
        wire["services_rejected"] = list(self.services_rejected)
        wire["stream"] = "consent"
        return wire


_CONSENT_WIRE_NAMES = tuple("event_time" if name == "event_time_ms" else name for name in ConsentEvent._fields)


class LearningEvent(NamedTuple):
    """A learner's step in a module (stream ``learning``): personal data of the learner, kept durably
    like an audit event. ``progress``, ``score``, ``reason`` and ``duration_ms`` are None where the verb
    carries none (see ``ccaudit.wire.LearningEventIn``)."""

    event_id: str
    event_time_ms: int
    verb: str
    learner: str
    organisation: str
    module: str
    lesson: str
    registration: str
    profession: str
    progress: int | None
    score: float | None
    reason: str | None
    duration_ms: float | None
    request_id: str

    def to_wire(self) -> dict[str, Any]:
        wire = {k: v for k, v in zip(_LEARNING_WIRE_NAMES, self, strict=True) if v is not None}
        wire["stream"] = "learning"
        return wire


_LEARNING_WIRE_NAMES = tuple("event_time" if name == "event_time_ms" else name for name in LearningEvent._fields)

Event = AuditEvent | UsageEvent | ConsentEvent | LearningEvent

# The compact form: ``[stream, field, field, ...]`` in the fields' order. The request path journals
# events in it, since encoding a tuple is a fraction of building and encoding the wire object (measured
# here: about 1 µs against 4-6 µs an audit event); the recorder's thread expands it off the request path.
_KINDS: dict[str, type[Event]] = {
    "audit": AuditEvent, "usage": UsageEvent, "consent": ConsentEvent, "learning": LearningEvent,
}  # fmt: skip
_STREAM_OF = {kind: stream for stream, kind in _KINDS.items()}
# The most bytes expanding one event can add: its field names and the stream's, quoted, with colons.
EXPANSION_BYTES = max(
    sum(len(name) + 4 for name in (*kind._fields, "event_time", "stream")) for kind in _KINDS.values()
)


def compact(event: Event) -> tuple[Any, ...]:
    """``event`` in the compact form (for ``orjson.dumps``)."""
    return (_STREAM_OF[type(event)], *event)


def expand(item: list[Any]) -> dict[str, Any]:
    """The wire object of one event in the compact form, as decoded from JSON."""
    return _KINDS[item[0]](*item[1:]).to_wire()
