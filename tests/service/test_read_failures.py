"""The read routes when the store fails or holds what they cannot answer with, in-process on the real
engine: 503 with Retry-After and a generic message, never a 500 and never the engine's text."""

from __future__ import annotations

import signal
from pathlib import Path

from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import open_client
from tests.chhttp.fixtures import start_clickhouse_server
from tests.conftest import personal_headers
from tests.service.test_observability import call

SECRET = "admin-secret-of-the-read-failure-tests"
ADMIN = {"Authorization": f"Bearer {SECRET}"}
READS = {
    "audit": "/v1/audit/events",
    "usage": "/v1/usage/summary",
    "consent": "/v1/consent/0b7e4a2e-3f51-4b8e-9d3c-6f1a2b3c4d5e",
    "tokens": "/v1/admin/tokens",
}
# Who may make each read: the auditor reads the trail and usage, the DPO consent, the bootstrap tokens.
READERS = {"audit": "auditor", "usage": "auditor", "consent": "dpo"}


def credentials(store: Store) -> dict[str, dict[str, str]]:
    """Per read, the headers of a principal allowed to make it."""
    made = {role: personal_headers(store, role) for role in set(READERS.values())}
    return {name: made[READERS[name]] if name in READERS else ADMIN for name in READS}


def test_an_unreachable_store_is_a_generic_503_on_every_read(tmp_path: Path) -> None:
    server = start_clickhouse_server(tmp_path)
    try:
        store = Store(open_client(server.url), "reads")
        store.migrate()
        app = create_app(Settings(admin_token=SECRET), store)
        headers = credentials(store)
        assert call(app, "GET", READS["audit"], headers=headers["audit"]).status_code == 200
        assert call(app, "GET", READS["consent"], headers=headers["consent"]).status_code == 404
        server.kill()
        answers = {name: call(app, "GET", path, headers=headers[name]) for name, path in READS.items()}
        assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(READS, 503)
        assert all(a.headers.get("Retry-After") for a in answers.values())
        # The driver's message names the host, the port and the connection's failure: none of it goes out.
        assert {a.json()["error"] for a in answers.values()} == {"store unavailable: try again later"}
    finally:
        assert server.stop() in (0, -signal.SIGKILL), server.output()


def test_a_stored_row_the_api_cannot_encode_is_a_503_not_a_500(store: Store) -> None:
    # A row written before ingest refused non-finite numbers: JSON has no infinity.
    store.client.command(
        f"INSERT INTO {store.database}.audit_events (event_id, event_time, received_at, platform, duration_ms, "
        "retention_days) VALUES (generateUUIDv4(), now64(3), now64(3), 'legacy', inf, 730)"
    )
    app = create_app(Settings(admin_token=SECRET), store)
    auditor = personal_headers(store, "auditor")
    answer = call(app, "GET", READS["audit"], params={"platform": "legacy"}, headers=auditor)
    assert answer.status_code == 503
    assert answer.headers.get("Retry-After")
    assert answer.json() == {"error": "the service could not answer: try again later"}
    # Reads that do not meet the row are answered as ever.
    assert call(app, "GET", READS["audit"], params={"platform": "other"}, headers=auditor).json()["events"] == []
