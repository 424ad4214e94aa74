"""The ingest pipeline: validate → enrich → insert. One function for both callers: the HTTP
endpoint and the in-process transport.

A batch is all or nothing: if any event is invalid the batch is refused with every bad index and
reason, and nothing of it is stored; the caller may resend the good events. An accepted batch has
been inserted when ``ingest`` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ccaudit.errors import IngestError
from ccaudit.ingest.enrich import UserAgentEnricher
from ccaudit.ingest.geo import CountryLookup
from ccaudit.ingest.salts import DailySalts
from ccaudit.register import STREAMS
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.wire import AuditEventIn, ConsentEventIn, UsageEventIn, parse_envelope, parse_events


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

    def ingest(self, data: object, *, platform: str | None = None) -> IngestResult:
        """Validate, enrich and insert one wire batch (already JSON-decoded).

        ``platform``, when given (from the caller's credentials), must match the batch's.
        Raises IngestError (the caller's fault) or StoreError (ours; retry later).
        """
        try:
            envelope = parse_envelope(data)
        except ValueError as exc:
            raise IngestError([(None, str(exc))]) from None
        if platform is not None and envelope.platform != platform:
            raise IngestError([(None, f"platform {envelope.platform!r} does not match the credentials")])
        events, problems = parse_events(envelope.events)
        register = self.settings.processing_register
        for index, item in enumerate(envelope.events):
            stream = item.get("stream")
            if stream in STREAMS and register.declaration(envelope.platform, stream) is None:
                problems.append(
                    (index, f"stream {stream!r} is not in the processing register for {envelope.platform!r}")
                )
        if problems:
            raise IngestError(sorted(problems))
        received = datetime.now(UTC)
        audit_rows: list[Sequence[Any]] = []
        usage_rows: list[Sequence[Any]] = []
        consent_rows: list[Sequence[Any]] = []
        for event in events:
            if isinstance(event, AuditEventIn):
                audit_rows.append(self._audit_row(event, envelope.platform, received))
            elif isinstance(event, ConsentEventIn):
                consent_rows.append(self._consent_row(event, envelope.platform, received))
            else:
                usage_rows.append(self._usage_row(event, envelope.platform, received))
        # Audit first: if the usage insert fails, the retried batch stores the audit rows once anyway.
        if audit_rows:
            self.store.insert_audit(audit_rows)
        if consent_rows:
            self.store.insert_consent(consent_rows)
        if usage_rows:
            self.store.insert_usage(usage_rows)
        return IngestResult(str(envelope.batch_id), len(events))

    def _audit_row(self, ev: AuditEventIn, platform: str, received: datetime) -> Sequence[Any]:
        ua = self.enrich_ua(ev.user_agent)
        return (
            ev.event_id, ev.event_time, received, platform, ev.organisation, ev.actor_account_id,
            ev.actor_profile_id, ev.actor_role, ev.admin_operation, ev.subject_id, ev.action, ev.route,
            ev.resource_type, ev.resource_id, ev.method, ev.status, ev.outcome, ev.duration_ms,
            ev.client_ip, ev.peer_ip, ev.user_agent, ua.browser, ua.browser_version, ua.os, ua.device,
            ua.is_bot, ev.request_id, ev.trace_id, ev.span_id, dict(ev.details),
            self.settings.retention_for(platform, "audit"),
        )  # fmt: skip

    def _usage_row(self, ev: UsageEventIn, platform: str, received: datetime) -> Sequence[Any]:
        # The IP and the user-agent string are used here and go no further.
        ua = self.enrich_ua(ev.user_agent)
        day = ev.event_time.astimezone(UTC).date()
        return (
            ev.event_id, ev.event_time, received, platform, ev.page, ev.admin_area, ev.referrer_host,
            ua.browser, ua.browser_version, ua.os, ua.device, ua.is_bot, self.geo.country(ev.client_ip),
            self.salts.visitor_hash(day, platform, ev.client_ip, ev.user_agent),
            self.settings.retention_for(platform, "usage"),
        )  # fmt: skip

    def _consent_row(self, ev: ConsentEventIn, platform: str, received: datetime) -> Sequence[Any]:
        return (
            ev.event_id, ev.event_time, received, platform, str(ev.consent_id), ev.account_id,
            list(ev.categories_accepted), list(ev.categories_rejected), list(ev.services_accepted),
            list(ev.services_rejected), ev.method, ev.action, ev.policy_revision, ev.banner_text_sha256,
            ev.language, ev.gpc, ev.dnt, self.settings.retention_for(platform, "consent"),
        )  # fmt: skip
