"""The DPO's console page of data-subject requests: an overdue request stands out, first, in words
and not by colour alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ccaudit.access import AccountStore
from ccaudit.rights.requests import Requests
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.console.browser import Client

PASSWORD = "a password long enough"


def test_overdue_requests_stand_out(store: Store) -> None:
    app = create_app(Settings(admin_token="admin-secret-of-the-rights-console", retention_interval_minutes=0), store)
    requests = Requests(store)
    now = datetime.now(UTC)
    late = requests.receive("erase", "a-late", "coop", now - timedelta(days=40))
    fresh = requests.receive("export", "a-new", "coop", now - timedelta(days=2))
    username = f"dpo-{uuid.uuid4().hex[:6]}"
    AccountStore(store.client, store.database).create(username, "dpo", [], PASSWORD)
    client = Client(app)
    assert client.login(username, PASSWORD).status_code == 303
    page = client.get("/console/requests")
    assert page.status_code == 200
    text = page.text
    assert text.index(late.request_id) < text.index(fresh.request_id)
    row = text[text.index(late.request_id) - 200 : text.index(fresh.request_id)]
    assert 'class="overdue"' in row
    assert "(overdue)" in row
    assert "/console/requests" in client.get("/console").text  # in the DPO's menu
