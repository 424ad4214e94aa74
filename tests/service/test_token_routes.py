"""The token administration routes in-process: the platform name they accept, and a failing store."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import open_client
from tests.chhttp.fixtures import start_clickhouse_server
from tests.service.test_observability import call

SECRET = "admin-secret-of-the-token-routes"
ADMIN = {"Authorization": f"Bearer {SECRET}"}


@pytest.mark.parametrize("path", ["/v1/admin/tokens", "/v1/admin/tokens/rotate"])
def test_a_name_ingest_refuses_is_400(store: Store, path: str) -> None:
    app = create_app(Settings(admin_token=SECRET), store)
    response = call(app, "POST", path, json={"platform": "Coop"}, headers=ADMIN)
    assert response.status_code == 400
    assert "'Coop' is not a platform name" in response.json()["error"]
    assert call(app, "POST", path, json={}, headers=ADMIN).status_code == 400
    assert call(app, "GET", "/v1/admin/tokens", headers=ADMIN).json() == {"tokens": []}


def test_an_unreachable_store_is_503_with_retry_after(tmp_path: Path) -> None:
    server = start_clickhouse_server(tmp_path)
    try:
        store = Store(open_client(server.url), "tokens")
        store.migrate()
        app = create_app(Settings(admin_token=SECRET), store)
        server.kill()
        answers = {
            "list": call(app, "GET", "/v1/admin/tokens", headers=ADMIN),
            "create": call(app, "POST", "/v1/admin/tokens", json={"platform": "coop"}, headers=ADMIN),
            "rotate": call(app, "POST", "/v1/admin/tokens/rotate", json={"platform": "coop"}, headers=ADMIN),
            "revoke": call(app, "DELETE", "/v1/admin/tokens/0123456789abcdef", headers=ADMIN),
        }
        assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 503)
        assert all(r.headers.get("Retry-After") for r in answers.values())
        assert all(r.json()["error"].startswith("store unavailable") for r in answers.values())
    finally:
        assert server.stop() in (0, -signal.SIGKILL), server.output()
