"""Events as the capture side builds them: frozen, cheap to create, turned into wire dicts later.

Creating one is the only work the request path does per audited request, so these are plain slotted
dataclasses; validation happens at ingest (``ccaudit.wire``), off the request path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
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
    details: dict[str, str] = field(default_factory=dict)

    stream = "audit"

    def to_wire(self) -> dict[str, Any]:
        """The event as the v1 wire format's JSON object (see ``ccaudit.wire``)."""
        wire = asdict(self)
        wire["event_time"] = wire.pop("event_time_ms")
        wire["stream"] = self.stream
        return wire


Event = AuditEvent
