"""The ingest pipeline: validate → enrich → insert, for both callers: the HTTP endpoint and the
in-process transport.

A batch is all or nothing: if any event is invalid the batch is refused with every bad index and
reason, and nothing of it is stored; the caller may resend the good events. An accepted batch has
been inserted when ``ingest`` returns. Batches ingested at the same time share inserts
(``commit.py``), and the trail is append-only (``ledger.py``): a stored event is acknowledged
again but never stored twice or rewritten.

Event times are accepted within a window (``accepted_window``): no older than the stream's
retention less an hour, so that an acknowledged event is not deleted by the table's TTL at the next
merge, and at most ``MAX_AHEAD`` ahead of the service's clock, so that a wrong clock cannot put an
event first in every newest-first list, out of every retention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson

from ccaudit.anonymous import safe_page, safe_referrer_host
from ccaudit.errors import IngestError, OtherPlatform, RewriteRefused
from ccaudit.ingest.commit import Batch, GroupCommit
from ccaudit.ingest.enrich import UserAgentEnricher
from ccaudit.ingest.geo import CountryLookup
from ccaudit.ingest.ledger import ERASED, Key, Ledger, keys_of
from ccaudit.ingest.salts import DailySalts
from ccaudit.register import STREAMS
from ccaudit.rights.late import LateArrivals
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store import audit as audit_table
from ccaudit.store import consent as consent_table
from ccaudit.store import learning as learning_table
from ccaudit.store import usage as usage_table
from ccaudit.wire import (
    AnyEventIn,
    AuditEventIn,
    ConsentEventIn,
    LearningEventIn,
    UsageEventIn,
    parse_batch,
    parse_envelope,
    parse_events,
)

# How far ahead of the service's clock an event time may be: clock skew between hosts, not more.
MAX_AHEAD = timedelta(minutes=5)
# An accepted event lives at least this long before its retention TTL may delete it.
MIN_KEPT = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch_id: str
    accepted: int
    # Page views whose page or referrer named a value (an address, an id, an IP) and were stored
    # as (other) or without their referrer instead.
    scrubbed: int = 0


class Ingestor:
    """Holds what ingest needs across batches: settings, the store, the caches, the salts."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        enricher: UserAgentEnricher | None = None,
        salts: DailySalts | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.enrich_ua = enricher or UserAgentEnricher()
        self.salts = salts or DailySalts(store.client, store.database)
        self.geo = CountryLookup(settings.geoip_db)
        self.ledger = Ledger(store.client, store.database)
        # Events of subjects erased since they were captured (ccaudit.rights.late).
        self.late = LateArrivals(store, settings.processing_register)
        # Told (platform, account ids) after a batch with account closures is stored: the service's
        # ccaudit.rights.closures erases them at once. It must not block.
        self.on_closed: Callable[[str, list[str]], None] | None = None
        # Audit first: if a later insert fails, the retried batch finds the audit rows stored.
        self.commits = GroupCommit(
            {
                "audit": store.insert_audit,
                "consent": store.insert_consent,
                "learning": store.insert_learning,
                "usage": store.insert_usage,
            },
            sort=self.ledger.sort,
        )

    def ingest(self, data: object, *, platform: str | None = None) -> IngestResult:
        """Validate, enrich and insert one wire batch (already JSON-decoded).

        ``platform``, when given (from the caller's credentials), must match the batch's: checked
        first, so a batch for another platform is OtherPlatform however bad the rest of it is.
        Raises IngestError (the caller's fault) or StoreError (ours; retry later).
        """
        if isinstance(data, dict):
            self._check_platform(data.get("platform"), platform)
        try:
            envelope = parse_envelope(data)
        except ValueError as exc:
            raise IngestError([(None, str(exc))]) from None
        events, problems = parse_events(envelope.events)
        streams = (item.get("stream") for item in envelope.events)
        problems += self._undeclared(envelope.platform, streams)
        if not problems:
            problems = self._outside_window(envelope.platform, events)
        if problems:
            raise IngestError(sorted(problems))
        return self._store(envelope.platform, str(envelope.batch_id), events)

    def ingest_json(self, body: bytes, *, platform: str | None = None) -> IngestResult:
        """``ingest`` for the batch's JSON bytes: a valid batch is validated in one pass from the
        bytes; anything else is decoded and checked piece by piece, to name what is wrong.

        Raises ValueError for a body that is not JSON, besides what ``ingest`` raises.
        """
        batch = parse_batch(body)
        if batch is None:
            return self.ingest(orjson.loads(body), platform=platform)
        self._check_platform(batch.platform, platform)
        problems = self._undeclared(batch.platform, (event.stream for event in batch.events))
        problems = problems or self._outside_window(batch.platform, batch.events)
        if problems:
            raise IngestError([*problems])
        return self._store(batch.platform, str(batch.batch_id), batch.events)

    def accepted_window(self, platform: str, stream: str, now: datetime) -> tuple[datetime, datetime]:
        """The oldest and the newest event time accepted now for ``stream`` of ``platform``."""
        return now - timedelta(days=self.settings.retention_for(platform, stream)) + MIN_KEPT, now + MAX_AHEAD

    def _outside_window(self, platform: str, events: Sequence[AnyEventIn]) -> list[tuple[int, str]]:
        now = datetime.now(UTC)
        windows = {s: self.accepted_window(platform, s, now) for s in {e.stream for e in events}}
        problems: list[tuple[int, str]] = []
        for index, event in enumerate(events):
            oldest, newest = windows[event.stream]
            if not oldest <= event.event_time <= newest:
                days = self.settings.retention_for(platform, event.stream)
                problems.append((index, (
                    f"event_time: {event.event_time.isoformat()} is outside the accepted window "
                    f"{_iso(oldest)} … {_iso(newest)} (the {event.stream} stream keeps {days} days, less an "
                    f"hour; at most {MAX_AHEAD.seconds // 60} minutes ahead of the service's clock)"
                )))  # fmt: skip
        return problems

    @staticmethod
    def _check_platform(named: object, credentials: str | None) -> None:
        # No platform named at all is the envelope's problem (400), not the credentials'.
        if credentials is not None and named is not None and named != credentials:
            raise OtherPlatform(named)

    def _undeclared(self, platform: str, streams: Iterable[object]) -> list[tuple[int, str]]:
        register = self.settings.processing_register
        streams = list(streams)
        named = {s for s in streams if isinstance(s, str)}  # anything else is already a validation error
        undeclared = {s for s in named if s in STREAMS and register.declaration(platform, s) is None}
        if not undeclared:
            return []
        return [
            (index, f"stream {stream!r} is not in the processing register for {platform!r}")
            for index, stream in enumerate(streams)
            if stream in undeclared
        ]

    def _store(self, platform: str, batch_id: str, events: Sequence[AnyEventIn]) -> IngestResult:
        received = datetime.now(UTC)
        events, erased, dropped = self.late.screen(platform, events)
        indexed = {i: e for i, e in enumerate(events) if i not in dropped}
        keys = keys_of(platform, indexed)
        if erased:
            # The ledger keeps no digest of an erased subject's payload, only the marker.
            keys = [Key(k.index, k.event_id, k.stream, ERASED) if k.index in erased else k for k in keys]
        digests = {key.index: key.digest for key in keys}
        audit = [i for i, e in indexed.items() if isinstance(e, AuditEventIn)]
        consent = [i for i, e in indexed.items() if isinstance(e, ConsentEventIn)]
        usage = [i for i, e in indexed.items() if isinstance(e, UsageEventIn)]
        learning = [i for i, e in indexed.items() if isinstance(e, LearningEventIn)]

        def pick(indexes: list[int]) -> tuple[list[Any], list[str]]:
            return [indexed[i] for i in indexes], [digests[i] for i in indexes]

        batch = Batch(
            platform,
            {
                "audit": self.audit_columns(*pick(audit), platform, received) if audit else [],
                "consent": self._consent_columns(*pick(consent), platform, received) if consent else [],
                "learning": self._learning_columns(*pick(learning), platform, received) if learning else [],
                "usage": self._usage_columns(*pick(usage), platform, received) if usage else [],
            },
            {"audit": audit, "consent": consent, "learning": learning, "usage": usage},
            keys,
        )
        try:
            self.commits.insert(batch)
        except RewriteRefused as refused:
            self.ledger.record_conflicts(platform, refused.conflicts)
            raise
        if self.on_closed is not None:
            closed = [e.resource_id for e in (indexed[i] for i in audit) if isinstance(e, AuditEventIn) and _closes(e)]
            if closed:
                self.on_closed(platform, closed)
        scrubbed = sum(1 for e in events if isinstance(e, UsageEventIn) and _scrubbed(e))
        return IngestResult(batch_id, len(events), scrubbed)

    # Columns, not rows: one sequence per column is what the driver sends. Times go as epoch
    # milliseconds, which the driver writes as they are instead of converting each datetime.

    def audit_columns(
        self, events: Sequence[AuditEventIn], digests: Sequence[str], platform: str, received: datetime
    ) -> list[Sequence[Any]]:
        """The columns of ``events`` in the audit table's order (``ccaudit.store.audit.COLUMNS``)."""
        return _columns(audit_table.COLUMNS, events, {
            **self._enriched(events, digests, platform, received),
            "retention_days": [self.settings.retention_for(platform, "audit")] * len(events),
        })  # fmt: skip

    def _usage_columns(
        self, events: Sequence[UsageEventIn], digests: Sequence[str], platform: str, received: datetime
    ) -> list[Sequence[Any]]:
        # The IP and the user-agent string are used here and go no further; a page or a referrer
        # that names a person or an address is not stored as sent, whoever sent it.
        return _columns(usage_table.COLUMNS, events, {
            **self._enriched(events, digests, platform, received),
            "page": [safe_page(e.page) for e in events],
            "referrer_host": [safe_referrer_host(e.referrer_host) if e.referrer_host else "" for e in events],
            "country": [self.geo.country(e.client_ip) for e in events],
            "visitor_hash": [
                self.salts.visitor_hash(e.event_time.astimezone(UTC).date(), platform, e.client_ip, e.user_agent)
                for e in events
            ],
            "retention_days": [self.settings.retention_for(platform, "usage")] * len(events),
        })  # fmt: skip

    def _enriched(
        self,
        events: Sequence[AuditEventIn | UsageEventIn],
        digests: Sequence[str],
        platform: str,
        received: datetime,
    ) -> dict[str, Sequence[Any]]:
        """The columns audit and usage rows share: arrival, platform, digest, what the user agent says."""
        agents = [self.enrich_ua(e.user_agent) for e in events]
        return {
            "received_at": [epoch_ms(received)] * len(events),
            "platform": [platform] * len(events),
            "payload_sha256": digests,
            "browser": [ua.browser for ua in agents],
            "browser_version": [ua.browser_version for ua in agents],
            "os": [ua.os for ua in agents],
            "device": [ua.device for ua in agents],
            "is_bot": [ua.is_bot for ua in agents],
        }

    def _consent_columns(
        self, events: Sequence[ConsentEventIn], digests: Sequence[str], platform: str, received: datetime
    ) -> list[Sequence[Any]]:
        return _columns(consent_table.COLUMNS, events, {
            "received_at": [epoch_ms(received)] * len(events),
            "platform": [platform] * len(events),
            "payload_sha256": digests,
            "consent_id": [str(e.consent_id) for e in events],
            "retention_days": [self.settings.retention_for(platform, "consent")] * len(events),
        })  # fmt: skip

    def _learning_columns(
        self, events: Sequence[LearningEventIn], digests: Sequence[str], platform: str, received: datetime
    ) -> list[Sequence[Any]]:
        # Stored as validated: a learning event carries no IP or user agent to derive anything from.
        return _columns(learning_table.COLUMNS, events, {
            "received_at": [epoch_ms(received)] * len(events),
            "platform": [platform] * len(events),
            "payload_sha256": digests,
            "reason": [e.reason or "" for e in events],
            "retention_days": [self.settings.retention_for(platform, "learning")] * len(events),
        })  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_TIMES = frozenset({"event_time", "received_at"})


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded down (as ClickHouse's DateTime64(3) keeps it)."""
    return (moment - _EPOCH) // _ONE_MS


def _scrubbed(event: UsageEventIn) -> bool:
    return safe_page(event.page) != event.page or bool(
        event.referrer_host and not safe_referrer_host(event.referrer_host)
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _columns(names: Sequence[str], events: Sequence[Any], computed: dict[str, Sequence[Any]]) -> list[Sequence[Any]]:
    """One sequence per column in ``names``: computed at ingest, or the wire field of the same name.

    The wire fields are read from each model's ``__dict__`` with one itemgetter call per event and
    transposed by ``zip``: both run in C, where a getattr per field and event cost more than the rest
    of the column building together.
    """
    wire = [name for name in names if name not in computed]
    if not events:
        return [[] for _ in names]
    picked = map(itemgetter(*wire), (e.__dict__ for e in events))
    transposed: dict[str, Sequence[Any]] = dict(zip(wire, zip(*picked, strict=True), strict=True))
    for name in _TIMES & transposed.keys():
        transposed[name] = [(t - _EPOCH) // _ONE_MS for t in transposed[name]]
    return [computed[name] if name in computed else transposed[name] for name in names]


def _closes(event: AuditEventIn) -> bool:
    # What ccaudit.record_account sends, and the closure view (migration 0017) reads.
    return (
        event.resource_type == "account"
        and event.action in ("account.closed", "account.deactivated")
        and bool(event.resource_id)
    )
