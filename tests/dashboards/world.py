"""Events for the dashboards' tests, sent through the real ingest: page views, admin operations,
consent receipts and learning steps, dated relative to today."""

from __future__ import annotations

import uuid
from typing import Any

from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def view(ms: int, visitor: int, page: str = "/courses/{id}", referrer: str = "", ua: str = CHROME) -> dict[str, Any]:
    """A page view at ``ms`` by visitor number ``visitor`` (its own address: its own daily hash)."""
    ip = f"203.0.{113 + visitor // 250}.{visitor % 250 + 1}"
    return {"stream": "usage", "event_id": new_id(ms), "event_time": ms, "page": page, "user_agent": ua,
            "client_ip": ip, "referrer_host": referrer}  # fmt: skip


def operation(ms: int, organisation: str, action: str = "course.update", outcome: str = "success") -> dict[str, Any]:
    return {"stream": "audit", "event_id": new_id(ms), "event_time": ms, "actor_account_id": "admin-1",
            "organisation": organisation, "action": action, "outcome": outcome, "admin_operation": True,
            "client_ip": "192.0.2.7"}  # fmt: skip


def receipt(ms: int, action: str, accepted: list[str], rejected: list[str], method: str = "banner") -> dict[str, Any]:
    return {"stream": "consent", "event_id": new_id(ms), "event_time": ms, "consent_id": str(uuid.uuid4()),
            "categories_accepted": accepted, "categories_rejected": rejected, "method": method, "action": action,
            "policy_revision": 1}  # fmt: skip


def step(ms: int, learner: str, organisation: str, module: str = "m1", verb: str = "initialized") -> dict[str, Any]:
    return {"stream": "learning", "event_id": new_id(ms), "event_time": ms, "verb": verb, "learner": learner,
            "organisation": organisation, "module": module, "lesson": ""}  # fmt: skip


def send(ingestor: Ingestor, events: list[dict[str, Any]], platform: str = "coop") -> None:
    """One batch through the real ingest (validation, enrichment, the ledger, the inserts)."""
    ingestor.ingest({"schema_version": 1, "batch_id": new_id(), "platform": platform, "events": events})
