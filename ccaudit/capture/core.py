"""The capture core shared by the ASGI and WSGI middleware: classify, then build events.

``begin`` runs before the app (method and path only); ``keep_now`` when the response starts;
``finish`` after the response body ended, with what the server adapter extracted. ``finish`` never
raises: a failure in capture is counted in ``errors`` and the platform carries on.

Two kinds of event come out of a request: audit events (rules in ``rules.py``) and consent receipts,
and a page view for a successful HTML GET, only when the visitor's consent allows analytics
(``ccaudit.consent``).

When the events are on disk (``CCAUDIT_DURABILITY``). This replaces the design's earlier "the request
path never does I/O" for audit events and receipts (and learning events, when they come): by default
(``process``) ``keep_now`` writes them to the local spool when the response starts, before any byte
of it is sent, on the request's own thread (one line of the process's journal, copied into its
memory mapping, shared with concurrent requests: ``ccaudit.shipping.journal`` and
``ccaudit.shipping.commit``). An acknowledged operation then survives the platform's process being
killed. The event records the response's status and the time
to its start: a body that fails, or a client that leaves, after that does not change it. If the
write fails (a full or broken spool) the platform is answered all the same and the events wait in
memory (fail-open, counted). ``power`` also waits for the disk (an fsync, off the event loop on
ASGI); ``deferred`` is the earlier behaviour (events in memory, written within a flush interval).
Strict routes always wait for the disk and answer 503 when their event cannot be kept; fail-closed
routes check for room first (no I/O). Page views never touch the disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any, NamedTuple, Protocol

from opentelemetry import trace

from ccaudit.capture.client_ip import ClientIpResolver
from ccaudit.capture.context import AuditNote, RequestContext
from ccaudit.capture.identity import Identity, Resolver
from ccaudit.capture.pages import PageNames, referrer_host
from ccaudit.capture.rules import AuditRules, Kind, should_record
from ccaudit.consent.decision import decide
from ccaudit.consent.policy import policy_from_settings
from ccaudit.consent.receipts import header_flag
from ccaudit.events import AuditEvent, ConsentEvent, Event, LearningEvent, UsageEvent
from ccaudit.ids import new_id
from ccaudit.settings import Settings

log = logging.getLogger("ccaudit.capture")

_MAX_ROUTE = 1024
_MAX_UA = 1024
_MAX_REQUEST_ID = 128
_CANDIDATES = frozenset({Kind.STATE_CHANGE, Kind.LOGIN, Kind.LOGOUT, Kind.PERSONAL_READ})
STATUS_ABORTED = 499  # nginx's "client closed request": there is no standard code for it
_PLAIN = AuditNote(action="")  # stands in for "no record_audit call": every field empty


class EventSink(Protocol):
    """What the core hands events to: the recorder. A sink that can also keep events durably has
    ``keep(events) -> bool``, ``sync() -> bool`` and ``can_keep() -> bool`` (``Recorder`` does)."""

    def emit(self, event: Event) -> None: ...


class RequestState(RequestContext):
    """One request between ``begin`` and ``finish``: the app-facing context plus what the middleware
    saw. It is the object app code reaches through the context variable, so one allocation serves both.
    """

    __slots__ = (
        "aborted",
        "admin",
        "ended",
        "error",
        "facts",
        "fail_closed",
        "html",
        "kept",
        "kept_notes",
        "kept_receipts",
        "kind",
        "method",
        "path",
        "response_started",
        "started",
        "status",
        "strict",
    )

    def __init__(self, kind: Kind, admin: bool, method: str, path: str) -> None:
        # Assigned inline rather than through super().__init__(): this runs on every request.
        self.identity = None
        self.subject_id = ""
        self.auth = None
        self.notes = None
        self.consents = None
        self.learning = None
        self.learning_kept = 0
        self.kind = kind
        self.admin = admin
        self.method = method
        self.path = path
        self.started = time.perf_counter()
        self.status = 0
        self.response_started = False
        self.ended = 0.0
        self.error = False
        self.aborted = False
        self.html = False  # the adapter sets it for a GET whose response is text/html
        self.strict = False
        self.fail_closed = False
        self.kept: list[AuditEvent] | None = None  # audit events already in the spool (kept at response start)
        self.kept_notes = 0  # how many of its record_audit notes those events carry
        self.kept_receipts = 0  # how many of its record_consent receipts are in the spool
        self.facts: RequestFacts | None = None  # read once, at response start, when events were kept


class RequestFacts(NamedTuple):
    """Request details a server adapter extracts only for requests that may be recorded."""

    route: str  # the matched route template, '' when the framework matched none
    user_agent: str
    forwarded: str | None
    request_id: str
    peer: str
    cookie: str | None = None
    gpc: str | None = None
    dnt: str | None = None
    referer: str | None = None
    host: str | None = None


def outcome_of(status: int, error: bool, aborted: bool) -> tuple[str, int]:
    """(outcome, status) as recorded."""
    if aborted:
        return "aborted", STATUS_ABORTED
    if error and status < 500:
        # An exception: before the response started the server answers 500; after, the status
        # already sent stands but the operation did not complete.
        return "error", status or 500
    if status >= 500:
        return "error", status
    if status in (401, 403):
        return "denied", status
    if status >= 400:
        return "failed", status
    return "success", status


def _clean_request_id(value: str) -> str:
    if value and len(value) <= _MAX_REQUEST_ID and value.isascii() and value.isprintable():
        return value
    return ""


def _merge(base: Identity | None, override: Identity | None) -> Identity:
    if override is None:
        return base or Identity()
    if base is None:
        return override
    return Identity(
        account_id=override.account_id or base.account_id,
        profile_id=override.profile_id or base.profile_id,
        organisation=override.organisation or base.organisation,
        role=override.role or base.role,
    )


class CaptureCore:
    """Rules, IP resolution and event building, independent of ASGI or WSGI."""

    def __init__(self, settings: Settings, sink: EventSink, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self.rules = AuditRules.from_settings(settings)
        self.ip = ClientIpResolver(settings.trusted_proxies, settings.proxy_header)
        self.sink = sink
        self.resolver = resolver
        self.pages = PageNames(settings.usage_page_patterns)
        self.consent = policy_from_settings(settings)
        # The processing register decides which streams this platform records at all.
        register = settings.processing_register
        usage = register.declaration(settings.platform, "usage")
        self.records_audit = register.declaration(settings.platform, "audit") is not None
        self.records_learning = register.declaration(settings.platform, "learning") is not None
        self.usage_category = usage.consent_category if usage is not None else None
        self.errors = 0
        # Strict and fail-closed routes keep audit events: nothing to keep where audit is not recorded.
        self._durable_routes = self.records_audit and bool(settings.strict_paths or settings.fail_closed_paths)
        # The durable default: events kept when the response starts, if the sink can keep them.
        self._durable = settings.durability != "deferred" and callable(getattr(sink, "keep", None))
        self._sync_all = settings.durability == "power"
        # "name=" of every consent manager's cookie the decision reads: without one of them in the
        # Cookie header the decision can only be no (``may_hold_consent``).
        self._consent_keys = tuple(reader.cookie_name + "=" for reader in self.consent.readers())

    def begin(self, method: str, path: str) -> RequestState:
        kind, admin = self.rules.classify(method, path)
        state = RequestState(kind, admin, method, path)
        if kind in _CANDIDATES and self._durable_routes:
            state.strict, state.fail_closed = self.rules.durability(path)
        return state

    # --- durable events: kept when the response starts ---

    def may_proceed(self, state: RequestState) -> bool:
        """For a fail-closed route: whether its audit event can be kept durably (a spool with room; no
        I/O). Other routes always proceed."""
        if not state.fail_closed:
            return True
        can_keep = getattr(self.sink, "can_keep", None)
        try:
            ok = bool(can_keep()) if can_keep is not None else False
        except Exception:
            log.exception("ccaudit: cannot tell whether the spool has room")
            ok = False
        if not ok:
            log.error("ccaudit: refusing %s %s: its audit event could not be kept", state.method, state.path[:200])
        return ok

    def keeps(self, state: RequestState) -> bool:
        """Whether this request's events are kept when its response starts (adapters then call
        ``keep_now``, and ``sync_now`` if ``must_sync``)."""
        return state.strict or (
            self._durable
            and state.kept is None
            and (self.may_audit(state) or state.consents is not None or state.learning is not None)
        )

    def keep_now(self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]) -> bool:
        """At response start: write the request's audit events and receipts to the spool now (I/O on
        the caller's thread: a write that does not wait for the disk). Never raises.

        Returns False only for a strict route whose events could not be kept: the adapter then answers
        503 instead. Elsewhere a failure leaves the events to ``finish``, which hands them to memory.
        """
        if state.kept is not None:
            return True
        state.facts = facts
        keep = getattr(self.sink, "keep", None)
        try:
            events = self.audit_events(state, facts, scope) if self.may_audit(state) else []
            receipts = self._receipts(state, facts, scope) if state.consents else []
            learning = self._learning(state, facts, scope) if state.learning else []
            both: list[Event] = [*events, *receipts, *learning]
            ok = not both or (keep is not None and bool(keep(both)))
        except Exception:
            log.exception("ccaudit: a request's audit event could not be built or kept")
            ok = False
        if ok:
            state.kept = events
            state.kept_notes = len(state.notes or ())
            state.kept_receipts = len(receipts)
            state.learning_kept += len(learning)
            return True
        if state.strict:
            self.errors += 1
            log.error("ccaudit: %s %s answered 503: its audit event could not be kept", state.method, state.path[:200])
            return False
        return True  # fail-open: ``finish`` builds them again and they wait in memory

    def must_sync(self, state: RequestState) -> bool:
        """Whether the kept events must also survive a power loss before the response (strict routes,
        ``CCAUDIT_DURABILITY=power``): the adapter then calls ``sync_now``, off the event loop."""
        return bool(state.kept or state.kept_receipts or state.learning_kept) and (state.strict or self._sync_all)

    def sync_now(self, state: RequestState) -> bool:
        """Wait until the kept events are on the disk itself (fsync). Blocking I/O; never raises.
        False only for a strict route that could not be synced (the adapter answers 503)."""
        sync = getattr(self.sink, "sync", None)
        try:
            ok = sync is not None and bool(sync())
        except Exception:
            log.exception("ccaudit: the spool could not be synced")
            ok = False
        if ok or not state.strict:
            return True  # the events are in the spool either way: they survive the process
        self.errors += 1
        log.error("ccaudit: %s %s answered 503: its audit event could not be synced", state.method, state.path[:200])
        return False

    def wants_facts(self, state: RequestState, cookie_header: Callable[[], object] | None = None) -> bool:
        """Whether this request may be recorded, so the adapter should extract its details.

        ``cookie_header`` (the request's Cookie header, read on demand) lets a page view be ruled out
        without reading anything else when it holds no consent manager's cookie: most public
        requests come from visitors who never answered a banner.
        """
        return self.wants_actor(state) or (
            self._page_view_candidate(state) and (cookie_header is None or self.may_hold_consent(cookie_header()))
        )

    def may_hold_consent(self, cookie_header: object) -> bool:
        """False only when ``cookie_header`` holds no cookie of any consent manager the decision reads,
        so that the decision would deny analytics whatever the other headers say. Never raises."""
        if not cookie_header:
            return False
        if not isinstance(cookie_header, str):
            return True  # not what PEP 3333 promises: let the full path read (and decide on) it
        return any(key in cookie_header for key in self._consent_keys)

    def may_audit(self, state: RequestState) -> bool:
        """Whether this request may produce audit events."""
        return self.records_audit and (state.kind in _CANDIDATES or state.notes is not None or state.auth is not None)

    def wants_actor(self, state: RequestState) -> bool:
        """Whether the actor is worth looking up: for audit events and consent receipts (page views are
        anonymous, and a framework's user lookup can cost a session load)."""
        return self.may_audit(state) or state.consents is not None or state.learning is not None

    def _page_view_candidate(self, state: RequestState) -> bool:
        return (
            self.usage_category is not None
            and state.html
            and 200 <= state.status < 300
            and not (state.error or state.aborted)
            and state.method == "GET"
            and state.kind is not Kind.EXCLUDED
        )

    def complete(
        self,
        state: RequestState,
        extract: Callable[[], RequestFacts],
        scope: MutableMapping[str, Any],
        cookie_header: Callable[[], object] | None = None,
    ) -> None:
        """The request is over: settle how it ended, then record it if it may be. Never raises.

        Server adapters call this once per request; ``extract`` is only called for requests that may
        be recorded, so unrecorded requests never pay for reading headers. ``cookie_header`` reads
        the Cookie header alone (see ``wants_facts``).
        """
        if not state.ended and not state.error and not state.aborted and state.response_started:
            state.aborted = True  # the response started but its body never ended: the client went away
        try:
            if self.wants_facts(state, cookie_header):
                self.finish(state, state.facts or extract(), scope)
        except Exception:  # capture must never break the platform
            self.errors += 1
            log.exception("ccaudit: capture failed")

    def finish(self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]) -> None:
        """Build and emit the request's events, if any. Never raises."""
        if self._page_view_candidate(state):
            try:
                self._page_view(state, facts)
            except Exception:  # best effort: a failed page view must not cost the audit event
                self.errors += 1
                log.exception("ccaudit: page view failed for %s", state.path[:200])
        try:
            if self.may_audit(state):
                self._finish(state, facts, scope)
            if state.consents is not None:
                self._consents(state, facts, scope)
            if state.learning is not None:
                for event in self._learning(state, facts, scope):
                    self.sink.emit(event)
        except Exception:  # capture must never break the platform
            self.errors += 1
            log.exception("ccaudit: capture failed for %s %s", state.method, state.path[:200])

    def _page_view(self, state: RequestState, facts: RequestFacts) -> None:
        now_ms = time.time_ns() // 1_000_000
        assert self.usage_category is not None  # a candidate only when usage is declared
        if not decide(self.consent, now_ms, facts.cookie, facts.gpc, facts.dnt, self.usage_category).analytics:
            return
        started_ms = now_ms - int((time.perf_counter() - state.started) * 1000)
        self.sink.emit(
            UsageEvent(
                new_id(started_ms),
                started_ms,
                self.pages.page(facts.route, state.path)[:_MAX_ROUTE],
                state.admin,
                referrer_host(facts.referer, facts.host),
                facts.user_agent[:_MAX_UA],
                self.ip.resolve(facts.peer, facts.forwarded),
            )
        )

    def _resolve(self, scope: MutableMapping[str, Any]) -> Identity | None:
        if self.resolver is None:
            return None
        try:
            return self.resolver(scope)
        except Exception:
            self.errors += 1
            log.exception("ccaudit: identity resolver failed")
            return None

    def _consents(self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]) -> None:
        for receipt in self._receipts(state, facts, scope)[state.kept_receipts :]:
            self.sink.emit(receipt)

    def _receipts(
        self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]
    ) -> list[ConsentEvent]:
        # Receipts from record_consent: completed with what only the request knows. Never the IP or UA.
        account = _merge(self._resolve(scope), state.identity).account_id[:256]
        gpc, dnt = header_flag(facts.gpc), header_flag(facts.dnt)
        return [receipt._replace(account_id=account, gpc=gpc, dnt=dnt) for receipt in state.consents or ()]

    def _learning(
        self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]
    ) -> list[LearningEvent]:
        """The request's learning events not in the spool yet, completed with the request's id and the
        actor's organisation where record_learning named none; none where the register declares no
        learning stream for this platform."""
        pending = (state.learning or ())[state.learning_kept :]
        if not pending or not self.records_learning:
            return []
        organisation = _merge(self._resolve(scope), state.identity).organisation[:256]
        request_id = _clean_request_id(facts.request_id)
        return [
            event._replace(organisation=event.organisation or organisation, request_id=request_id) for event in pending
        ]

    def _finish(self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]) -> None:
        if state.kept:
            # The request's events are in the spool already; each note made since adds one (merged
            # into a rebuilt first event, as when nothing was kept, it would be lost).
            outcome, _ = outcome_of(state.status, state.error, state.aborted)
            late = (state.notes or ())[state.kept_notes :]
            events = [_note_event(state.kept[0], note, state.subject_id, outcome) for note in late]
        else:
            events = self.audit_events(state, facts, scope)
        for event in events:
            self.sink.emit(event)

    def audit_events(
        self, state: RequestState, facts: RequestFacts, scope: MutableMapping[str, Any]
    ) -> list[AuditEvent]:
        """The audit events this request records so far (none if the rules say so)."""
        identity = _merge(self._resolve(scope), state.identity)
        explicit = state.notes is not None or state.auth is not None
        if not (explicit or should_record(state.kind, state.admin, identity.authenticated)):
            return []
        outcome, status = outcome_of(state.status, state.error, state.aborted)
        now = time.perf_counter()
        ended = state.ended or now
        # The event time is the request's start, derived here so unrecorded requests never read the clock.
        started_ms = time.time_ns() // 1_000_000 - int((now - state.started) * 1000)
        action = f"http.{state.method}"
        auth = state.auth
        if auth is None and state.kind is Kind.LOGIN:
            auth = "login" if outcome == "success" else "login_failed"
        elif auth is None and state.kind is Kind.LOGOUT:
            auth = "logout"
        if auth is not None:
            action = f"auth.{auth}"
            if auth == "login_failed" and outcome == "success":
                outcome = "denied"  # a login form that answers 200 on a wrong password
        span = trace.get_current_span().get_span_context()
        trace_id = format(span.trace_id, "032x") if span.is_valid else ""
        span_id = format(span.span_id, "016x") if span.is_valid else ""
        # The first note (if any) enriches the request's own event; each further note adds one.
        notes = state.notes or ()
        first = notes[0] if notes else _PLAIN
        event_id = new_id(started_ms)
        event = AuditEvent(
            event_id,
            started_ms,
            identity.organisation,
            identity.account_id,
            identity.profile_id,
            identity.role,  # from the resolver or set_actor only: a path says nothing of who acts
            state.admin,
            first.subject_id or state.subject_id,
            first.action or action,
            (facts.route or state.path)[:_MAX_ROUTE],
            first.resource_type,
            first.resource_id,
            state.method,
            status,
            first.outcome or outcome,
            round((ended - state.started) * 1000.0, 3),
            self.ip.resolve(facts.peer, facts.forwarded),
            facts.peer,
            facts.user_agent[:_MAX_UA],
            _clean_request_id(facts.request_id) or event_id,
            trace_id,
            span_id,
            dict(first.details),
        )
        return [event] + [_note_event(event, note, state.subject_id, outcome) for note in notes[1:]]


def _note_event(event: AuditEvent, note: AuditNote, subject_id: str, outcome: str) -> AuditEvent:
    """A further ``record_audit`` note of a request: the request's event, with the note's operation."""
    return event._replace(
        event_id=new_id(event.event_time_ms),
        action=note.action,
        subject_id=note.subject_id or subject_id,
        resource_type=note.resource_type,
        resource_id=note.resource_id,
        outcome=note.outcome or outcome,
        details=note.details,
    )
