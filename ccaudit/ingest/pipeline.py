"""The ingest pipeline: validate → enrich → insert, for both callers: the HTTP endpoint and the
in-process transport.

A batch is all or nothing: if any event is invalid the batch is refused with every bad index and
reason, and nothing of it is stored; the caller may resend the good events. An accepted batch has
been inserted when ``ingest`` returns. Batches ingested at the same time share inserts
(``commit.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson

from ccaudit.errors import IngestError, OtherPlatform
from ccaudit.ingest.commit import GroupCommit
from ccaudit.ingest.enrich import UserAgentEnricher
from ccaudit.ingest.geo import CountryLookup
from ccaudit.ingest.salts import DailySalts
from ccaudit.register import STREAMS
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store import audit as audit_table
from ccaudit.store import consent as consent_table
from ccaudit.store import usage as usage_table
from ccaudit.wire import (
    AnyEventIn,
    AuditEventIn,
    ConsentEventIn,
    UsageEventIn,
    parse_batch,
    parse_envelope,
    parse_events,
)


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch_id: str
    accepted: int


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
        # Audit first: if a later insert fails, the retried batch stores the audit rows once anyway.
        self.commits = GroupCommit(
            {"audit": store.insert_audit, "consent": store.insert_consent, "usage": store.insert_usage}
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
        if problems:
            raise IngestError([*problems])
        return self._store(batch.platform, str(batch.batch_id), batch.events)

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
        audit = [e for e in events if isinstance(e, AuditEventIn)]
        consent = [e for e in events if isinstance(e, ConsentEventIn)]
        usage = [e for e in events if isinstance(e, UsageEventIn)]
        self.commits.insert({
            "audit": self.audit_columns(audit, platform, received) if audit else [],
            "consent": self._consent_columns(consent, platform, received) if consent else [],
            "usage": self._usage_columns(usage, platform, received) if usage else [],
        })  # fmt: skip
        return IngestResult(batch_id, len(events))

    # Columns, not rows: one sequence per column is what the driver sends. Times go as epoch
    # milliseconds, which the driver writes as they are instead of converting each datetime.

    def audit_columns(self, events: Sequence[AuditEventIn], platform: str, received: datetime) -> list[Sequence[Any]]:
        """The columns of ``events`` in the audit table's order (``ccaudit.store.audit.COLUMNS``)."""
        return _columns(audit_table.COLUMNS, events, {
            **self._enriched(events, platform, received),
            "retention_days": [self.settings.retention_for(platform, "audit")] * len(events),
        })  # fmt: skip

    def _usage_columns(self, events: Sequence[UsageEventIn], platform: str, received: datetime) -> list[Sequence[Any]]:
        # The IP and the user-agent string are used here and go no further.
        return _columns(usage_table.COLUMNS, events, {
            **self._enriched(events, platform, received),
            "country": [self.geo.country(e.client_ip) for e in events],
            "visitor_hash": [
                self.salts.visitor_hash(e.event_time.astimezone(UTC).date(), platform, e.client_ip, e.user_agent)
                for e in events
            ],
            "retention_days": [self.settings.retention_for(platform, "usage")] * len(events),
        })  # fmt: skip

    def _enriched(
        self, events: Sequence[AuditEventIn | UsageEventIn], platform: str, received: datetime
    ) -> dict[str, list[Any]]:
        """The columns audit and usage rows share: arrival, platform, and what the user agent says."""
        agents = [self.enrich_ua(e.user_agent) for e in events]
        return {
            "received_at": [epoch_ms(received)] * len(events),
            "platform": [platform] * len(events),
            "browser": [ua.browser for ua in agents],
            "browser_version": [ua.browser_version for ua in agents],
            "os": [ua.os for ua in agents],
            "device": [ua.device for ua in agents],
            "is_bot": [ua.is_bot for ua in agents],
        }

    def _consent_columns(
        self, events: Sequence[ConsentEventIn], platform: str, received: datetime
    ) -> list[Sequence[Any]]:
        return _columns(consent_table.COLUMNS, events, {
            "received_at": [epoch_ms(received)] * len(events),
            "platform": [platform] * len(events),
            "consent_id": [str(e.consent_id) for e in events],
            "retention_days": [self.settings.retention_for(platform, "consent")] * len(events),
        })  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_TIMES = frozenset({"event_time", "received_at"})


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded down (as ClickHouse's DateTime64(3) keeps it)."""
    return (moment - _EPOCH) // _ONE_MS


def _columns(names: Sequence[str], events: Sequence[Any], computed: dict[str, list[Any]]) -> list[Sequence[Any]]:
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
