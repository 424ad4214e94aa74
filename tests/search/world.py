"""A service in-process on the real engine with a small, known trail: the search tests' world."""

from __future__ import annotations

import uuid
from typing import Any

from ccaudit.ingest import Ingestor
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import days_ago_ms, personal_headers
from tests.ingest.test_pipeline import batch
from tests.ingest.test_pipeline import wire as base_wire

T0 = days_ago_ms(2)


def wire(n: int, **fields: Any) -> dict[str, Any]:
    """Event n: its id is the UUID of the integer n + 1, its time n seconds after T0."""
    return base_wire(n, event_time=T0 + n * 1000, event_id=str(uuid.UUID(int=n + 1, version=4)), **fields)


# Twelve events: what each filter must find is written next to it in the tests.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("coop", wire(1, actor_account_id="anna", action="person.update", subject_id="s-1", client_ip="10.1.2.3",
                  request_id="req-1", trace_id="a" * 32, resource_type="person", resource_id="p-1",
                  details={"note": "Changed the E-mail address"})),
    ("coop", wire(2, actor_account_id="anna", action="person.delete", subject_id="s-2", client_ip="10.9.9.9",
                  request_id="req-1", trace_id="a" * 32, resource_type="person", resource_id="p-2", status=403,
                  outcome="denied")),
    ("coop", wire(3, actor_account_id="bert", action="personnel.list", client_ip="192.168.1.5", request_id="req-3",
                  details={"query": "=HYPERLINK(\"http://x\")", "comma": "a,b\"c"})),
    ("coop", wire(4, actor_account_id="bert", action="module.create", organisation="org-b", client_ip="2001:db8::1",
                  request_id="req-4", details={"note": "100% of 50_000"})),
    ("library", wire(5, actor_account_id="anna", action="loan.create", organisation="org-b", client_ip="",
                     request_id="req-5")),
    ("library", wire(6, actor_account_id="carl", action="person.view", subject_id="s-1", client_ip="10.200.0.1",
                     request_id="req-6", organisation="org-a")),
]  # fmt: skip


class World:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.app = create_app(Settings(admin_token="search-tests-bootstrap-credential"), store)
        ingestor = Ingestor(Settings(), store)
        for platform in ("coop", "library"):
            ingestor.ingest(batch([e for p, e in EVENTS if p == platform], platform=platform))
        self.auditor = personal_headers(store, "auditor")
        self.org_admin = personal_headers(store, "org_admin", ("org-a",))
        self.dpo = personal_headers(store, "dpo")


def request_ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["request_id"] for e in events]
