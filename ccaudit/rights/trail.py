"""Each rights step is an audit event (platform ``ccaudit``), and names no one but by the request.

The event's subject is the request (``request:<id>``) or the retention run, never the person's
identifiers: recording an erasure must not store again what it erased. Details hold counts, table
names, purposes and the step's own words.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime

import orjson

from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import COLUMNS

PLATFORM = "ccaudit"


def record(
    store: Store,
    settings: Settings,
    action: str,
    *,
    actor: str,
    role: str,
    subject: str,
    now: datetime,
    details: Mapping[str, object] | None = None,
    outcome: str = "success",
) -> str:
    """Store one audit event for a rights step; its event id."""
    event_id = str(uuid.uuid4())
    clean = {str(k)[:256]: str(v)[:2048] for k, v in (details or {}).items()}
    row = {
        "event_id": event_id, "event_time": now, "received_at": now, "platform": PLATFORM, "organisation": "",
        "actor_account_id": actor, "actor_profile_id": "", "actor_role": role, "admin_operation": True,
        "subject_id": subject, "action": action, "route": "", "resource_type": "subject_request",
        "resource_id": subject, "method": "", "status": 0, "outcome": outcome, "duration_ms": 0.0,
        "client_ip": "", "peer_ip": "", "user_agent": "", "browser": "", "browser_version": "", "os": "",
        "device": "", "is_bot": False, "request_id": "", "trace_id": "", "span_id": "", "details": clean,
        "retention_days": settings.retention_for(PLATFORM, "audit"),
    }  # fmt: skip
    payload = orjson.dumps({k: v for k, v in row.items() if k not in ("received_at",)}, default=str)
    row["payload_sha256"] = hashlib.sha256(PLATFORM.encode() + b"\n" + payload).hexdigest()
    store.insert_audit([[row[name]] for name in COLUMNS])
    return event_id
