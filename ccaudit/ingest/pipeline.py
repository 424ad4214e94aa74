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
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.wire import AuditEventIn, parse_envelope, parse_events


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch_id: str
    accepted: int


class Ingestor:
    """Holds what ingest needs across batches: settings, the store, the UA cache."""

    def __init__(self, settings: Settings, store: Store, enricher: UserAgentEnricher | None = None) -> None:
        self.settings = settings
        self.store = store
        self.enrich_ua = enricher or UserAgentEnricher()

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
        if problems:
            raise IngestError(list(problems))
        received = datetime.now(UTC)
        rows = [self._audit_row(event, envelope.platform, received) for event in events]
        if rows:
            self.store.insert_audit(rows)
        return IngestResult(str(envelope.batch_id), len(rows))

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
